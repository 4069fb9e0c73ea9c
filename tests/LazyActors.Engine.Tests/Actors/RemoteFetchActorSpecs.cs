using System.Runtime.InteropServices;
using Akka.Actor;
using LazyActors.Engine.Actors.Remote;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Tests.Protocol.Support;
using Xunit;
using Xunit.Abstractions;
using static LazyActors.Engine.Tests.Actors.ActorSpecSupport;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>
/// <see cref="RemoteFetchActor"/> behind its <see cref="RemotePageSource"/>, against a scripted source on loopback: what
/// goes on the wire and in which order (faults never behind background data), short replies, and a source that goes
/// away for good.
/// </summary>
public sealed class RemoteFetchActorSpecs(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(Hocon, output: output)
{
    private const int Pid = 4242;
    private const ulong Base = 0x7f00_0000_0000;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    /// <summary>Spec settings; the reply deadline is long (a busy machine must not look like a stalled source) unless a
    /// test is about a source that stops answering.</summary>
    private static EngineSettings Settings(TimeSpan? giveUpAfter = null, TimeSpan? replyTimeout = null) => SpecSettings with
    {
        Remote = SpecSettings.Remote with
        {
            FaultConnection = FaultConnectionMode.Off,
            SharedBackgroundRequestBytes = 16 * 4096,
            SharedBackgroundInFlight = 2,
            ReplyTimeout = replyTimeout ?? TimeSpan.FromSeconds(15),
            ConnectTimeout = TimeSpan.FromSeconds(1),
            ReconnectBackoffMin = TimeSpan.FromMilliseconds(20),
            ReconnectBackoffMax = TimeSpan.FromMilliseconds(100),
            GiveUpAfter = giveUpAfter ?? TimeSpan.FromSeconds(10),
        },
    };

    private (RemotePageSource Source, IActorRef Fetcher) Start(int port, EngineSettings settings, IActorRef? parent = null)
    {
        var source = new RemotePageSource(settings);
        var props = RemoteFetchActor.Props(PageServerEndpoint.Tcp("127.0.0.1", port), settings.Remote, probe: null, source);
        var fetcher = parent is null ? Sys.ActorOf(props) : ChildOf(parent, props);
        source.Bind(fetcher);
        return (source, fetcher);
    }

    private IActorRef ChildOf(IActorRef parent, Props props)
    {
        parent.Tell(new SpawnChild(props));
        return ExpectMsg<IActorRef>(Bound);
    }

    [Fact]
    public async Task On_a_shared_connection_background_goes_in_small_pieces_two_at_a_time_and_a_fault_goes_out_at_once()
    {
        var secondBackground = new TaskCompletionSource<List<PageServerIov>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = new List<PageServerIov>();
        await using var script = ScriptedPageSource.Start(async c =>
        {
            var first = await c.ReadRequestsAsync(2);
            seen.AddRange(first);
            secondBackground.SetResult(first);
            var fault = await c.ReadRequestAsync(); // sent while two background pieces are unanswered
            seen.Add(fault);
            await release.Task;
            await c.ReplyAsync(first[0], first[0].NrPages);
            await c.ReplyAsync(first[1], first[1].NrPages);
            await c.ReplyAsync(fault, fault.NrPages);
            for (int i = 0; i < 14; i++)
            {
                var next = await c.ReadRequestAsync();
                seen.Add(next);
                await c.ReplyAsync(next, next.NrPages);
            }
        });
        var (source, _) = Start(script.Port, Settings());
        using (source)
        {
            var background = source.ReadAsync(Pid, Base, 256, ReadPriority.Background, CancellationToken.None).AsTask();
            var first = await secondBackground.Task.WaitAsync(Bound);
            Assert.All(first, r => Assert.Equal(16UL, r.NrPages)); // cut to shared-background-request
            await Task.Delay(200);
            Assert.Equal(2, seen.Count); // no third background piece on the wire

            var fault = source.ReadAsync(Pid, Base + (1000 * Page), 1, ReadPriority.Fault, CancellationToken.None).AsTask();
            AwaitCondition(() => seen.Count == 3, Bound);
            Assert.Equal((1UL, Base + (1000 * Page)), (seen[2].NrPages, seen[2].Vaddr)); // behind at most the two pieces in flight
            release.SetResult();

            using var faultRead = await fault.WaitAsync(Bound);
            using var backgroundRead = await background.WaitAsync(Bound);
            AssertPages(faultRead, Base + (1000 * Page), 1);
            AssertPages(backgroundRead, Base, 256);
            Assert.Equal(Enumerable.Range(0, 16).Select(i => Base + ((ulong)i * 16 * Page)), seen.Where(r => r.NrPages == 16).Select(r => r.Vaddr));
            Assert.All(seen, r => Assert.Equal((ulong)Pid, r.DstId));
        }
    }

    [Fact]
    public async Task A_short_reply_is_asked_again_for_the_rest_at_once()
    {
        var requests = new List<PageServerIov>();
        await using var script = ScriptedPageSource.Start(async c =>
        {
            var first = await c.ReadRequestAsync();
            requests.Add(first);
            await c.ReplyAsync(first, 3); // clamped: the run ended after 3 pages
            var rest = await c.ReadRequestAsync();
            requests.Add(rest);
            await c.ReplyAsync(rest, rest.NrPages);
        });
        var (source, _) = Start(script.Port, Settings());
        using (source)
        {
            using var read = await source.ReadAsync(Pid, Base, 8, ReadPriority.Fault, CancellationToken.None).AsTask().WaitAsync(Bound);

            AssertPages(read, Base, 8);
            Assert.Equal([(8UL, Base), (5UL, Base + (3 * Page))], requests.Select(r => (r.NrPages, r.Vaddr)));
        }
    }

    [Fact]
    public async Task After_a_short_reply_later_reads_are_cut_where_the_source_ends_its_runs_and_all_parts_go_out_at_once()
    {
        var requests = new List<PageServerIov>();
        await using var script = ScriptedPageSource.Start(async c =>
        {
            var first = await c.ReadRequestAsync();
            requests.Add(first);
            await c.ReplyAsync(first, 3); // a run of the source ends 3 pages in: its next ends follow every 1024 pages
            var rest = await c.ReadRequestAsync();
            requests.Add(rest);
            await c.ReplyAsync(rest, rest.NrPages);

            // The big read: all three parts are on the wire before any is answered (no part waits for a short reply).
            var parts = await c.ReadRequestsAsync(3);
            requests.AddRange(parts);
            foreach (var part in parts)
            {
                await c.ReplyAsync(part, part.NrPages);
            }
        });
        var (source, _) = Start(script.Port, Settings());
        using (source)
        {
            using (var read = await source.ReadAsync(Pid, Base, 8, ReadPriority.Fault, CancellationToken.None).AsTask().WaitAsync(Bound))
            {
                AssertPages(read, Base, 8);
            }

            using var big = await source.ReadAsync(Pid, Base + (8 * Page), 2048, ReadPriority.Fault, CancellationToken.None).AsTask().WaitAsync(Bound);

            AssertPages(big, Base + (8 * Page), 2048);
            Assert.Equal(
                [(8UL, Base), (5UL, Base + (3 * Page)), (1019UL, Base + (8 * Page)), (1024UL, Base + (1027 * Page)), (5UL, Base + (2051 * Page))],
                requests.Select(r => (r.NrPages, r.Vaddr)));
        }
    }

    [Fact]
    public async Task A_source_gone_for_good_is_given_up_and_its_reads_stay_pending_for_the_parent_to_stop_the_tree()
    {
        await using var script = ScriptedPageSource.Start(async c =>
        {
            await c.ReadRequestAsync();
            c.Reset();
        });
        var parent = Sys.ActorOf(Props.Create(() => new Parent(TestActor)));
        var (source, _) = Start(script.Port, Settings(giveUpAfter: TimeSpan.FromMilliseconds(500), replyTimeout: TimeSpan.FromSeconds(1)), parent);
        using (source)
        {
            var read = source.ReadAsync(Pid, Base, 1, ReadPriority.Fault, CancellationToken.None).AsTask();

            var lost = await ExpectMsgAsync<RemoteFetchActor.SourceLost>(Bound);
            Assert.Equal($"127.0.0.1:{script.Port}", lost.Peer);
            Assert.Equal(1, lost.ReadsWaiting);
            Assert.True(lost.Waited >= TimeSpan.FromMilliseconds(500));
            await Task.Delay(200);
            Assert.False(read.IsCompleted); // never failed (a failed read would close the task's uffd: zeros)
        }
    }

    private static void AssertPages(PageRead read, ulong dump, int pages)
    {
        var segment = Assert.Single(read.Segments);
        Assert.Equal((dump, pages), (segment.DumpAddress, segment.Pages));
        for (int i = 0; i < pages; i++)
        {
            var vaddr = dump + ((ulong)i * Page);
            Assert.Equal(ScriptedConnection.PageByte(vaddr), Marshal.ReadByte(segment.Address + (i * (int)Page)));
            Assert.Equal(ScriptedConnection.PageByte(vaddr), Marshal.ReadByte(segment.Address + (i * (int)Page) + 4095));
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
}
