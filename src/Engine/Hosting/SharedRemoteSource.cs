using Akka.Actor;
using LazyActors.Engine.Actors.Remote;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Protocol.Client;

namespace LazyActors.Engine.Hosting;

/// <summary>
/// The shared page cache's source for one remote checkpoint: one page-server session (a <see cref="RemoteFetchActor"/>
/// under a <see cref="SharedFetchActor"/> of the host's actor system, not of any one restore), so that every restore of
/// the checkpoint reads through the cache and the source sends each page once. The cache disposes it after the last
/// restore detached: the session is closed, and the buffers are freed once the fetcher stopped.
/// </summary>
public sealed class SharedRemoteSource : IPageSource
{
    private static readonly TimeSpan BindTimeout = TimeSpan.FromSeconds(10);
    private readonly RemotePageSource _pages;
    private readonly TaskCompletionSource _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TimeSpan _closeWait;
    private int _disposed;

    /// <summary>Opens a session to <paramref name="endpoint"/> in <paramref name="system"/>; <paramref name="probe"/> is
    /// a page the source holds (checks a second connection), or null.</summary>
    public SharedRemoteSource(ActorSystem system, EngineSettings settings, PageServerEndpoint endpoint, ProbePage? probe)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(endpoint);
        Endpoint = endpoint;
        Probe = probe;
        _pages = new RemotePageSource(settings);
        _closeWait = (settings.Remote.CloseTimeout * 2) + TimeSpan.FromSeconds(5);
        Fetcher = system.ActorOf(SharedFetchActor.Props(endpoint, settings, probe, _pages, Statistics, _bound), "shared-source-" + Guid.NewGuid().ToString("N")[..12]);
    }

    /// <summary>The page server.</summary>
    public PageServerEndpoint Endpoint { get; }

    /// <summary>The probe page the fetcher was given.</summary>
    public ProbePage? Probe { get; }

    /// <summary>The fetcher's parent, which restores subscribe to (<see cref="SharedFetchActor.Subscribe"/>).</summary>
    public IActorRef Fetcher { get; }

    /// <summary>The page source the fetcher serves.</summary>
    public RemotePageSource Pages => _pages;

    /// <summary>The session's counters (GETs, pages received, reconnections), over every restore reading it.</summary>
    public RemoteStatistics Statistics { get; } = new();

    /// <inheritdoc />
    public async ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, ReadPriority priority, CancellationToken cancellationToken)
    {
        // The fetcher is created asynchronously; a read may come before it is bound (bounded: an actor that cannot be
        // created must fail the read, not leave the task waiting).
        try
        {
            await _bound.Task.WaitAsync(BindTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new Protocol.PageServerException(Endpoint.ToString(), $"the shared remote fetcher was not ready within {BindTimeout.TotalSeconds:0} s");
        }

        return await _pages.ReadAsync(pid, dumpAddress, pages, priority, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes the session (bounded) and frees the buffers once the fetcher stopped; does not wait for it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _ = CloseAsync();
    }

    private async Task CloseAsync()
    {
        try
        {
            await Fetcher.Ask<SharedFetchActor.Done>(SharedFetchActor.Close.Instance, _closeWait).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
        {
            try
            {
                if (!await Fetcher.GracefulStop(TimeSpan.FromSeconds(5)).ConfigureAwait(false))
                {
                    // A fetcher still running could write into freed buffers: keep them (a leak beats a corruption).
                    return;
                }
            }
            catch (TaskCanceledException)
            {
                return;
            }
        }

        // Waits (bounded) until the fetcher's connections are closed before it frees the buffers.
        _pages.Dispose();
    }
}
