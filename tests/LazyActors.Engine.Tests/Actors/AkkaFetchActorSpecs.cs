using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.TestKit;
using Google.Protobuf;
using LazyActors.Engine.Actors.Remote;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Remoting.Wire;
using Xunit;
using Xunit.Abstractions;
using static LazyActors.Engine.Tests.Actors.ActorSpecSupport;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>
/// <see cref="AkkaFetchActor"/> behind its <see cref="RemotePageSource"/>, against a scripted source actor (a probe behind
/// a named forwarder, so it can be stopped and started again at the same path): the credit window, a fault that goes out
/// while the window is full, short replies, recovery after the source stopped, a source that refuses, and the give-up.
/// </summary>
public sealed class AkkaFetchActorSpecs(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(Hocon, output: output)
{
    private const int Pid = 4242;
    private const ulong Base = 0x7f00_0000_0000;
    private const string SourceName = "akka-source";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static EngineSettings Settings(TimeSpan? giveUpAfter = null) => SpecSettings with
    {
        Remote = SpecSettings.Remote with
        {
            ReplyTimeout = TimeSpan.FromSeconds(15),
            ConnectTimeout = TimeSpan.FromSeconds(1),
            ReconnectBackoffMin = TimeSpan.FromMilliseconds(20),
            ReconnectBackoffMax = TimeSpan.FromMilliseconds(100),
            GiveUpAfter = giveUpAfter ?? TimeSpan.FromSeconds(10),
            Akka = new AkkaTransportSettings { BulkRequestBytes = 4 * 4096, BulkInFlightBytes = 8 * 4096 },
        },
    };

    [Fact]
    public async Task Bulk_flows_within_the_credit_window_a_fault_goes_out_while_it_is_full_and_short_replies_are_asked_again()
    {
        var probe = CreateTestProbe();
        StartSource(probe);
        var parent = Sys.ActorOf(Props.Create(() => new Parent(TestActor)));
        var (source, _) = await StartFetcherAsync(Settings(), parent);
        using (source)
        {
            var bulk = source.ReadAsync(Pid, Base, 32, ReadPriority.Background, CancellationToken.None).AsTask();
            var first = await probe.ExpectMsgAsync<PageRequest>(Bound);
            var second = await probe.ExpectMsgAsync<PageRequest>(Bound);
            Assert.Equal((Priority.Bulk, Base, 4u), (first.Priority, first.Vaddr, first.Pages));
            Assert.Equal((Base + (4 * Page), 4u), (second.Vaddr, second.Pages));
            await probe.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200)); // 8 pages asked and unanswered: the window is full

            var fault = source.ReadAsync(Pid, Base + (64 * Page), 1, ReadPriority.Fault, CancellationToken.None).AsTask();
            var faultRequest = await probe.ExpectMsgAsync<PageRequest>(Bound);
            Assert.Equal((Priority.Fault, Base + (64 * Page)), (faultRequest.Priority, faultRequest.Vaddr));
            probe.Reply(Reply(faultRequest, 1));
            using (var faultRead = await fault.WaitAsync(Bound))
            {
                AssertPages(faultRead, Base + (64 * Page), 1);
            }

            probe.Send(probe.LastSender, Reply(first, 2)); // short: the other 2 pages are asked next, ahead of the rest
            var rest = await probe.ExpectMsgAsync<PageRequest>(Bound);
            Assert.Equal((Base + (2 * Page), 2u), (rest.Vaddr, rest.Pages));
            var fetcher = probe.LastSender;
            probe.Send(fetcher, Reply(rest, (int)rest.Pages));
            probe.Send(fetcher, Reply(second, (int)second.Pages));
            for (long remaining = 32 - 8; remaining > 0;)
            {
                var next = await probe.ExpectMsgAsync<PageRequest>(Bound);
                Assert.True(next.Pages <= 4, $"a bulk request of {next.Pages} pages (bulk-request is 4)");
                remaining -= next.Pages;
                probe.Send(fetcher, Reply(next, (int)next.Pages));
            }

            using var bulkRead = await bulk.WaitAsync(Bound);
            AssertPages(bulkRead, Base, 32);
        }
    }

    [Fact]
    public async Task A_fault_read_larger_than_one_reply_is_asked_in_reply_sized_pieces_all_at_once()
    {
        var probe = CreateTestProbe();
        StartSource(probe);
        var parent = Sys.ActorOf(Props.Create(() => new Parent(TestActor)));
        var settings = Settings();
        settings = settings with { Remote = settings.Remote with { Akka = settings.Remote.Akka with { MaxReplyBytes = 4 * 4096 } } };
        var (source, _) = await StartFetcherAsync(settings, parent);
        using (source)
        {
            var fault = source.ReadAsync(Pid, Base, 10, ReadPriority.Fault, CancellationToken.None).AsTask();
            // Every piece is on the wire before any is answered: the task waits one round trip, not three.
            var pieces = new List<PageRequest>();
            for (int i = 0; i < 3; i++)
            {
                pieces.Add(await probe.ExpectMsgAsync<PageRequest>(Bound));
            }

            Assert.Equal(
                [(Base, 4u, Priority.Fault), (Base + (4 * Page), 4u, Priority.Fault), (Base + (8 * Page), 2u, Priority.Fault)],
                pieces.Select(p => (p.Vaddr, p.Pages, p.Priority)).ToArray());
            var fetcher = probe.LastSender;
            foreach (var piece in Enumerable.Reverse(pieces))
            {
                Assert.False(fault.IsCompleted);
                probe.Send(fetcher, Reply(piece, (int)piece.Pages));
            }

            using var read = await fault.WaitAsync(Bound);
            AssertPages(read, Base, 10);
        }
    }

    [Fact]
    public async Task When_the_source_stops_what_was_on_the_wire_is_asked_again_of_the_source_that_comes_back()
    {
        var probe = CreateTestProbe();
        var forwarder = StartSource(probe);
        var statistics = new RemoteStatistics();
        var parent = Sys.ActorOf(Props.Create(() => new Parent(TestActor)));
        var (source, _) = await StartFetcherAsync(Settings(), parent, statistics);
        using (source)
        {
            var fault = source.ReadAsync(Pid, Base, 3, ReadPriority.Fault, CancellationToken.None).AsTask();
            var lost = await probe.ExpectMsgAsync<PageRequest>(Bound);

            await WatchAsync(forwarder);
            Sys.Stop(forwarder); // DeathWatch tells the fetcher: the source is lost
            await ExpectTerminatedAsync(forwarder, Bound);
            await Task.Delay(300); // the fetcher's lookups fail meanwhile; the task's read waits
            Assert.False(fault.IsCompleted);
            StartSource(probe);

            var again = await probe.ExpectMsgAsync<PageRequest>(Bound);
            Assert.Equal((lost.Pid, lost.Vaddr, lost.Pages, Priority.Fault), (again.Pid, again.Vaddr, again.Pages, again.Priority));
            Assert.NotEqual(lost.Id, again.Id);
            probe.Send(probe.LastSender, Reply(lost, 3)); // a late reply to the lost request is ignored
            probe.Send(probe.LastSender, Reply(again, 3));
            using var read = await fault.WaitAsync(Bound);
            AssertPages(read, Base, 3);
            Assert.Equal(1, statistics.Reconnects);
            Assert.Equal(1, statistics.Requests);
        }
    }

    [Fact]
    public async Task A_source_that_holds_no_data_for_a_request_is_given_up_at_once_and_the_read_stays_pending()
    {
        var probe = CreateTestProbe();
        StartSource(probe);
        var parent = Sys.ActorOf(Props.Create(() => new Parent(TestActor)));
        var (source, _) = await StartFetcherAsync(Settings(), parent);
        using (source)
        {
            var read = source.ReadAsync(Pid, Base, 1, ReadPriority.Fault, CancellationToken.None).AsTask();
            var request = await probe.ExpectMsgAsync<PageRequest>(Bound);
            probe.Reply(new PageError { Id = request.Id, Pid = request.Pid, Vaddr = request.Vaddr, Reason = "the address is not lazy" });

            var lost = await ExpectMsgAsync<RemoteFetchActor.SourceLost>(Bound);
            Assert.Contains("holds no data for pid 4242 at 0x7f0000000000: the address is not lazy", lost.Reason, StringComparison.Ordinal);
            Assert.Equal(1, lost.ReadsWaiting);
            await Task.Delay(200);
            Assert.False(read.IsCompleted); // never failed: a failed read would close the task's uffd (zeros)
        }
    }

    [Fact]
    public async Task A_source_gone_for_good_is_given_up_after_the_give_up_time_and_the_read_stays_pending()
    {
        var probe = CreateTestProbe();
        var forwarder = StartSource(probe);
        var parent = Sys.ActorOf(Props.Create(() => new Parent(TestActor)));
        var (source, _) = await StartFetcherAsync(Settings(giveUpAfter: TimeSpan.FromMilliseconds(500)), parent);
        using (source)
        {
            var read = source.ReadAsync(Pid, Base, 1, ReadPriority.Fault, CancellationToken.None).AsTask();
            await probe.ExpectMsgAsync<PageRequest>(Bound);
            Sys.Stop(forwarder);

            var lost = await ExpectMsgAsync<RemoteFetchActor.SourceLost>(Bound);
            Assert.Equal($"akka://{Sys.Name}/user/{SourceName}", lost.Peer);
            Assert.Matches(@"no page source actor at .*; no reply for [0-9.]+ s and \d+ reconnection attempt\(s\)", lost.Reason); // the last failure, then how long
            Assert.True(lost.Waited >= TimeSpan.FromMilliseconds(500));
            await Task.Delay(200);
            Assert.False(read.IsCompleted);
        }
    }

    [Fact]
    public async Task Nothing_at_the_source_path_is_a_connect_failure_for_the_parent()
    {
        var parent = Sys.ActorOf(Props.Create(() => new Parent(TestActor)));
        var (source, _) = await StartFetcherAsync(Settings(), parent);
        using (source)
        {
            var failed = await ExpectMsgAsync<RemoteFetchActor.ConnectFailed>(Bound);
            Assert.Contains("no page source actor at", failed.Reason, StringComparison.Ordinal);
        }
    }

    /// <summary>The scripted source; it never answers the fetcher's bulk-endpoint question, so bulk stays Akka messages.</summary>
    private IActorRef StartSource(TestProbe probe)
    {
        probe.IgnoreMessages(message => message is BulkEndpointRequest);
        return Sys.ActorOf(Props.Create(() => new Forwarder(probe.Ref)), SourceName);
    }

    private async Task<(RemotePageSource Source, IActorRef Fetcher)> StartFetcherAsync(EngineSettings settings, IActorRef parent, RemoteStatistics? statistics = null)
    {
        var source = new RemotePageSource(settings);
        var path = ActorPath.Parse($"akka://{Sys.Name}/user/{SourceName}");
        parent.Tell(new SpawnChild(AkkaFetchActor.Props(path, settings.Remote, source, statistics ?? new RemoteStatistics())));
        var fetcher = await ExpectMsgAsync<IActorRef>(Bound);
        source.Bind(fetcher);
        return (source, fetcher);
    }

    /// <summary>The source's answer: <paramref name="pages"/> pages of the pattern, from the request's address.</summary>
    private static PageReply Reply(PageRequest request, int pages)
    {
        var data = new byte[pages * (int)Page];
        for (int i = 0; i < pages; i++)
        {
            data.AsSpan(i * (int)Page, (int)Page).Fill(PageByte(request.Vaddr + ((ulong)i * Page)));
        }

        return new PageReply { Id = request.Id, Pid = request.Pid, Vaddr = request.Vaddr, Pages = (uint)pages, Data = ByteString.CopyFrom(data) };
    }

    private static byte PageByte(ulong vaddr) => (byte)((vaddr >> 12) * 31 % 251);

    private static void AssertPages(PageRead read, ulong dump, int pages)
    {
        var segment = Assert.Single(read.Segments);
        Assert.Equal((dump, pages), (segment.DumpAddress, segment.Pages));
        for (int i = 0; i < pages; i++)
        {
            var expected = PageByte(dump + ((ulong)i * Page));
            Assert.Equal(expected, Marshal.ReadByte(segment.Address + (i * (int)Page)));
            Assert.Equal(expected, Marshal.ReadByte(segment.Address + (i * (int)Page) + 4095));
        }
    }

    private sealed record SpawnChild(Props Props);

    /// <summary>A parent that spawns the fetcher and forwards what the fetcher tells it.</summary>
    private sealed class Parent : ReceiveActor
    {
        public Parent(IActorRef forwardTo)
        {
            Receive<SpawnChild>(spawn => Sender.Tell(Context.ActorOf(spawn.Props)));
            ReceiveAny(message => forwardTo.Forward(message));
        }
    }

    /// <summary>The source at a fixed path: requests go to the probe with the fetcher as their sender.</summary>
    private sealed class Forwarder : ReceiveActor
    {
        public Forwarder(IActorRef probe) => ReceiveAny(message => probe.Forward(message));
    }
}
