using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Client;

namespace LazyActors.Engine.Actors.Remote;

/// <summary>
/// Opens the connections of one generation to the page source and decides their shape: the main connection, then,
/// unless <c>fault-connection = off</c>, a second one for faults, checked with one GET of a page the source holds.
/// </summary>
/// <remarks>
/// Why the check: CRIU's lazy servers (<c>criu dump --lazy-pages</c>, <c>criu page-server --lazy-pages</c>) listen with
/// a backlog of one, accept one connection and close the listener. A second connect is then refused, or, when it landed
/// in the backlog before the listener closed, it is reset. Either way the GET gets no reply, and the one connection is
/// shared: that source answers in order, so background requests are kept small there. Our page server serves any
/// number of connections and answers the GET.
/// </remarks>
internal static class SourceConnector
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The client's options: replies complete inline on the connection's reader thread (the fetcher's continuation only
    /// tells the actor), and that thread gets the engine threads' nice value, so a reply never waits for a thread-pool
    /// thread that lost its CPU to the restored tasks.
    /// </summary>
    public static PageServerClientOptions ClientOptions(RemoteFetchSettings settings, int? readerNice) => new()
    {
        MaxInFlight = settings.MaxRequestsInFlight,
        ReplyTimeout = settings.ReplyTimeout,
        ConnectTimeout = settings.ConnectTimeout,
        InlineCompletions = true,
        ReceiveLowWater = settings.ReceiveLowWaterBytes,
        DirectIo = settings.DirectIo,
        ReaderThreadStarted = readerNice is { } nice ? () => Scheduling.ThreadScheduling.TrySetNice(nice) : null,
    };

    /// <exception cref="PageServerException">No connection, or <see cref="FaultConnectionMode.On"/> and no second one.</exception>
    public static Task<SourceLinks> ConnectAsync(PageServerEndpoint endpoint, RemoteFetchSettings settings, int? readerNice, ProbePage? probe,
        FaultConnectionMode mode, CancellationToken cancellationToken) =>
        ConnectAsync(endpoint, settings, readerNice, Task.FromResult(probe), mode, cancellationToken);

    /// <summary>
    /// As above with the probe page still being found (the daemon connects while it opens the checkpoint): the second
    /// connection is opened the moment the first is up, and the probe page is awaited only for its GET.
    /// </summary>
    /// <exception cref="PageServerException">No connection, or <see cref="FaultConnectionMode.On"/> and no second one.</exception>
    public static async Task<SourceLinks> ConnectAsync(PageServerEndpoint endpoint, RemoteFetchSettings settings, int? readerNice, Task<ProbePage?> probe,
        FaultConnectionMode mode, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(probe);
        var options = ClientOptions(settings, readerNice);
        Diagnostics.StartupTrace.Mark(Diagnostics.StartupStep.SourceConnectStarted);
        var main = await endpoint.ConnectAsync(options, cancellationToken).ConfigureAwait(false);
        Diagnostics.StartupTrace.Mark(Diagnostics.StartupStep.SourceConnected);
        string? single = mode == FaultConnectionMode.Off ? "fault-connection = off"
            : !endpoint.CanReconnect ? "an inherited socket is the only connection"
            : null;
        if (single is not null)
        {
            return Ready(Shared(main, single));
        }

        // Not before the first is up: a source that serves one connection (CRIU's) must accept the main one first.
        var second = endpoint.ConnectAsync(options, cancellationToken);
        ProbePage? page;
        try
        {
            page = await probe.ConfigureAwait(false);
        }
        catch
        {
            await DisposeQuietlyAsync(second).ConfigureAwait(false);
            await main.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        if (page is null)
        {
            await DisposeQuietlyAsync(second).ConfigureAwait(false);
            return Ready(Shared(main, "the checkpoint has no lazy pages"));
        }

        PageServerClient? faults = null;
        string? refusal;
        try
        {
            faults = await second.ConfigureAwait(false);
            refusal = await ProbeAsync(faults, page).ConfigureAwait(false);
        }
        catch (PageServerException e)
        {
            refusal = $"a second connection was refused ({e.Reason})";
        }

        if (refusal is null)
        {
            var more = await ConnectMoreBulkAsync(endpoint, options, settings.BulkConnections - 1, cancellationToken).ConfigureAwait(false);
            return Ready(new SourceLinks(new SourceLink(main, LinkRole.Bulk), new SourceLink(faults!, LinkRole.Faults),
                more.Count == 0
                    ? "a second connection answered: faults have a connection of their own, background data the other"
                    : $"a second connection answered: faults have a connection of their own, background data {more.Count + 1} others")
            {
                MoreBulk = more,
            });
        }

        if (faults is not null)
        {
            await faults.DisposeAsync().ConfigureAwait(false);
        }

        if (mode == FaultConnectionMode.On)
        {
            await main.DisposeAsync().ConfigureAwait(false);
            throw new PageServerException(main.Peer, $"fault-connection = on, but {refusal}");
        }

        return Ready(Shared(main, $"{refusal}; a source serving one connection, like CRIU's"));
    }

    /// <summary>
    /// The extra bulk connections, opened together; one that fails is left out (background data then has fewer), the
    /// source already proved it serves more than one.
    /// </summary>
    private static async Task<IReadOnlyList<SourceLink>> ConnectMoreBulkAsync(PageServerEndpoint endpoint, PageServerClientOptions options, int count,
        CancellationToken cancellationToken)
    {
        if (count <= 0)
        {
            return [];
        }

        var attempts = Enumerable.Range(0, count).Select(_ => endpoint.ConnectAsync(options, cancellationToken)).ToArray();
        var links = new List<SourceLink>(count);
        foreach (var attempt in attempts)
        {
            try
            {
                links.Add(new SourceLink(await attempt.ConfigureAwait(false), LinkRole.Bulk));
            }
            catch (PageServerException)
            {
                // refused: fewer bulk connections this generation
            }
        }

        return links;
    }

    /// <summary>Closes the connections of links that were made but never used (a daemon that ends before its restore).</summary>
    public static async Task DisposeAsync(Task<SourceLinks> links)
    {
        ArgumentNullException.ThrowIfNull(links);
        try
        {
            foreach (var link in (await links.ConfigureAwait(false)).All)
            {
                await link.Client.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is PageServerException or OperationCanceledException)
        {
            // never connected: nothing to close
        }
    }

    private static SourceLinks Ready(SourceLinks links)
    {
        Diagnostics.StartupTrace.Mark(Diagnostics.StartupStep.SourceLinksReady);
        return links;
    }

    private static async Task DisposeQuietlyAsync(Task<PageServerClient> connecting)
    {
        try
        {
            await (await connecting.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is PageServerException or OperationCanceledException)
        {
            // refused or cancelled: nothing to close
        }
    }

    private static SourceLinks Shared(PageServerClient main, string why) =>
        new(new SourceLink(main, LinkRole.Shared), null, $"one shared connection ({why}): background requests stay small so faults pass them");

    /// <summary>Null when the source answered the GET; otherwise why not.</summary>
    private static async Task<string?> ProbeAsync(PageServerClient client, ProbePage probe)
    {
        var scratch = new byte[Ranges.PageGeometry.PageSize];
        using var bound = new CancellationTokenSource(ProbeTimeout);
        try
        {
            await client.GetPagesAsync(probe.Pid, probe.DumpAddress, 1, scratch, bound.Token).ConfigureAwait(false);
            return null;
        }
        catch (PageServerException e)
        {
            return $"a second connection did not answer a GET ({e.Reason})";
        }
        catch (OperationCanceledException)
        {
            return $"a second connection did not answer a GET within {ProbeTimeout.TotalSeconds:0} s";
        }
    }
}
