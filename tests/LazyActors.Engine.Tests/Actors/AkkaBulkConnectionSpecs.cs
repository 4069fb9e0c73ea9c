using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine.Actors.Remote;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Remoting;
using LazyActors.Engine.Remoting.Wire;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;
using static LazyActors.Engine.Tests.Actors.ActorSpecSupport;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>
/// <see cref="AkkaFetchActor"/> against a real <see cref="PageSourceActor"/> over a synthetic checkpoint, with the bulk
/// connection the source offers: every lazy page arrives byte for byte while that connection is reset and closed in
/// the middle of a reply; and without one, bulk pages come as Akka messages.
/// </summary>
public sealed class AkkaBulkConnectionSpecs(ITestOutputHelper output)
    : Akka.TestKit.Xunit2.TestKit(ConfigurationFactory.ParseString(
        "lazy-actors.source-mailbox.mailbox-type = \"LazyActors.Engine.Remoting.PageRequestMailbox, LazyActors.Engine\"").WithFallback(Hocon), output: output)
{
    private const int ReadPages = 32;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private static EngineSettings Settings() => SpecSettings with
    {
        Remote = SpecSettings.Remote with
        {
            ReplyTimeout = TimeSpan.FromSeconds(10),
            ConnectTimeout = TimeSpan.FromSeconds(2),
            ReconnectBackoffMin = TimeSpan.FromMilliseconds(20),
            ReconnectBackoffMax = TimeSpan.FromMilliseconds(100),
            GiveUpAfter = TimeSpan.FromSeconds(20),
            BulkRequestBytes = 4 * 4096,
            BulkInFlightBytes = 16 * 4096,
            Akka = new AkkaTransportSettings { BulkRequestBytes = 4 * 4096, BulkInFlightBytes = 16 * 4096 },
        },
    };

    [Fact]
    public async Task Every_page_arrives_byte_for_byte_while_the_bulk_connection_is_reset_and_closed_mid_reply()
    {
        using var dir = new ScratchDirectory();
        SyntheticCheckpoint.Write(dir.Path, new SyntheticCheckpointOptions(2, 2 << 20, 11));
        using var store = LazyPageStore.Open(dir.Path);
        // The first bulk connection is reset at its 20th request, the second closed half way through its 10th reply;
        // the third serves the rest.
        await using var bulk = FaultyPageServer.Start(store, (connection, request, _) => (connection, request) switch
        {
            (1, 20) => SourceFault.Reset,
            (2, 10) => SourceFault.CloseMidPayload,
            _ => SourceFault.None,
        });
        var counters = new SourceCounters();
        Sys.ActorOf(PageSourceActor.Props(store, "bulk-spec", 64 * 1024, counters, new BulkEndpoint { Host = "127.0.0.1", Port = (uint)bulk.Port }), PageSourceActor.Name);

        long pages = await FetchEverythingAsync(store, Settings(), untilBulkIsUp: bulk);

        Assert.Equal((long)store.ServedPages, pages);
        // The reset happened mid-stream; what was on the connection was asked again (over Akka, or over a new bulk
        // connection when it came up in time) and every byte above is right.
        Assert.True(bulk.Log.Any(line => line.Contains("request 20: Reset", StringComparison.Ordinal)), string.Join("; ", bulk.Log));
        Assert.True(bulk.PagesSent > 0, $"none of {store.ServedPages} pages came over the bulk connection");
        Assert.True(counters.FaultReplies > 0, "no fault was answered over Akka");
    }

    [Fact]
    public async Task A_source_that_offers_no_bulk_connection_sends_bulk_pages_as_akka_messages()
    {
        using var dir = new ScratchDirectory();
        SyntheticCheckpoint.Write(dir.Path, new SyntheticCheckpointOptions(1, 1 << 20, 12));
        using var store = LazyPageStore.Open(dir.Path);
        var counters = new SourceCounters();
        Sys.ActorOf(PageSourceActor.Props(store, "bulk-spec", 64 * 1024, counters), PageSourceActor.Name);

        long pages = await FetchEverythingAsync(store, Settings());

        Assert.Equal((long)store.ServedPages, pages);
        Assert.True(counters.BulkReplies > 0, "no bulk reply went as an Akka message");
    }

    /// <summary>Reads every served page (background reads of every run at once, a fault read beside each) and compares it with the pages file.</summary>
    private async Task<long> FetchEverythingAsync(LazyPageStore store, EngineSettings settings, FaultyPageServer? untilBulkIsUp = null)
    {
        using var source = new RemotePageSource(settings);
        var parent = Sys.ActorOf(Props.Create(() => new SpawningParent(TestActor)));
        var path = ActorPath.Parse($"akka://{Sys.Name}/user/{PageSourceActor.Name}");
        parent.Tell(new SpawningParent.Spawn(AkkaFetchActor.Props(path, settings.Remote, source, new RemoteStatistics())));
        source.Bind(await ExpectMsgAsync<IActorRef>(Bound));
        if (untilBulkIsUp is not null)
        {
            // Locally the first pieces would all be answered as messages before the bulk connection is up: one fault
            // read, then the reads wait until the fetcher has connected it (and had a moment to take it).
            var first = store.Index.RunsOf(store.Index.Pids.First()).First(r => r.HasData);
            using (await source.ReadAsync(store.Index.Pids.First(), first.Vaddr, 1, ReadPriority.Fault, CancellationToken.None).AsTask().WaitAsync(Bound))
            {
            }

            await AwaitConditionAsync(() => Task.FromResult(untilBulkIsUp.Accepted >= 1), Bound);
            await Task.Delay(300);
        }

        return await ServedPagesCheck.ReadEverythingAsync(source, store, ReadPages, Bound);
    }

    /// <summary>A parent that spawns the fetcher and forwards what the fetcher tells it.</summary>
    private sealed class SpawningParent : ReceiveActor
    {
        public SpawningParent(IActorRef forwardTo)
        {
            Receive<Spawn>(spawn => Sender.Tell(Context.ActorOf(spawn.Props)));
            ReceiveAny(message => forwardTo.Forward(message));
        }

        public sealed record Spawn(Props Props);
    }
}
