using System.Collections.Concurrent;
using Akka.Actor;
using LazyActors.Engine.Actors.Remote;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;
using static LazyActors.Engine.Tests.Actors.ActorSpecSupport;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>
/// <see cref="RemoteFetchActor"/> with <c>remote.bulk-connections = 2</c> against a page server on loopback over a
/// synthetic checkpoint: background data goes over both bulk connections, faults over their own, every byte arrives;
/// and when one bulk connection is reset mid-restore, everything on the wire is asked again and still every byte
/// arrives.
/// </summary>
public sealed class RemoteBulkConnectionsSpecs(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(Hocon, output: output)
{
    private const int ReadPages = 32;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private static EngineSettings Settings() => SpecSettings with
    {
        Remote = SpecSettings.Remote with
        {
            FaultConnection = FaultConnectionMode.On,
            BulkConnections = 2,
            BulkRequestBytes = 8 * 4096,
            BulkInFlightBytes = 64 * 4096,
            ReplyTimeout = TimeSpan.FromSeconds(15),
            ConnectTimeout = TimeSpan.FromSeconds(2),
            ReconnectBackoffMin = TimeSpan.FromMilliseconds(20),
            ReconnectBackoffMax = TimeSpan.FromMilliseconds(100),
            GiveUpAfter = TimeSpan.FromSeconds(20),
        },
    };

    [Fact]
    public async Task Background_data_goes_over_both_bulk_connections_and_every_byte_arrives()
    {
        using var dir = new ScratchDirectory();
        SyntheticCheckpoint.Write(dir.Path, new SyntheticCheckpointOptions(2, 2 << 20, 21));
        using var store = LazyPageStore.Open(dir.Path);
        var requests = new ConcurrentQueue<int>();
        await using var server = FaultyPageServer.Start(store, (connection, _, _) =>
        {
            requests.Enqueue(connection);
            return SourceFault.None;
        });

        long pages = await FetchEverythingAsync(store, server.Port);

        Assert.Equal((long)store.ServedPages, pages);
        Assert.Equal(3, server.Accepted); // bulk, faults (answered the probe), the second bulk
        var perConnection = requests.GroupBy(c => c).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(perConnection.GetValueOrDefault(1) > 1 && perConnection.GetValueOrDefault(3) > 1,
            $"background requests per connection: {string.Join(", ", perConnection.Select(p => $"#{p.Key}: {p.Value}"))}");
    }

    [Fact]
    public async Task Without_the_receive_arena_every_byte_arrives_through_the_per_size_pools()
    {
        using var dir = new ScratchDirectory();
        SyntheticCheckpoint.Write(dir.Path, new SyntheticCheckpointOptions(2, 2 << 20, 23));
        using var store = LazyPageStore.Open(dir.Path);
        await using var server = FaultyPageServer.Start(store, (_, _, _) => SourceFault.None);

        long pages = await FetchEverythingAsync(store, server.Port, receiveArena: false);

        Assert.Equal((long)store.ServedPages, pages);
    }

    [Fact]
    public async Task A_bulk_connection_reset_mid_restore_is_recovered_and_every_byte_arrives()
    {
        using var dir = new ScratchDirectory();
        SyntheticCheckpoint.Write(dir.Path, new SyntheticCheckpointOptions(2, 2 << 20, 22));
        using var store = LazyPageStore.Open(dir.Path);
        await using var server = FaultyPageServer.Start(store, (connection, request, _) => (connection, request) switch
        {
            (3, 5) => SourceFault.Reset,
            _ => SourceFault.None,
        });

        long pages = await FetchEverythingAsync(store, server.Port);

        Assert.Equal((long)store.ServedPages, pages);
        Assert.True(server.Log.Any(line => line.Contains("request 5: Reset", StringComparison.Ordinal)), string.Join("; ", server.Log));
        Assert.True(server.Accepted >= 6, $"{server.Accepted} connection(s): the generation after the reset must open its three again");
    }

    /// <summary>Reads every served page (background reads of every run at once, a fault read at each run's start) and
    /// compares it with the pages file; then closes the session. Buffers from the receive arenas (the default) or from
    /// the per-size pools.</summary>
    private async Task<long> FetchEverythingAsync(LazyPageStore store, int port, bool receiveArena = true)
    {
        var settings = Settings();
        settings = settings with { Remote = settings.Remote with { ReceiveArena = receiveArena } };
        using var source = new RemotePageSource(settings);
        Assert.True(await source.Populated.WaitAsync(Bound)); // true also where there is no arena
        var firstPid = store.Index.Pids.First();
        var probe = new ProbePage(firstPid, store.Index.RunsOf(firstPid).First(r => r.HasData).Vaddr);
        var fetcher = Sys.ActorOf(RemoteFetchActor.Props(PageServerEndpoint.Tcp("127.0.0.1", port), settings.Remote, probe, source));
        source.Bind(fetcher);

        var count = await ServedPagesCheck.ReadEverythingAsync(source, store, ReadPages, Bound);
        var closed = await fetcher.Ask<RemoteFetchActor.Closed>(RemoteFetchActor.Close.Instance, Bound);
        Assert.True(closed.Confirmed, closed.Error);
        return count;
    }
}
