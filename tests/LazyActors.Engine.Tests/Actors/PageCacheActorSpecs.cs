using Akka.Actor;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Images;
using LazyActors.Engine.Pages;
using Xunit;
using Xunit.Abstractions;
using static LazyActors.Engine.Tests.Actors.ActorSpecSupport;

namespace LazyActors.Engine.Tests.Actors;

public sealed class PageCacheActorSpecs : Akka.TestKit.Xunit2.TestKit
{
    private const ulong Base = 0x5500_0000_0000;
    private readonly FakePageSource _source = new();
    private readonly EngineStatistics _statistics = new();

    public PageCacheActorSpecs(ITestOutputHelper output)
        : base(Hocon, output: output)
    {
    }

    private IActorRef StartCache(int maxReads = 64) =>
        Sys.ActorOf(PageCacheActor.Props(_source, SpecSettings with { MaxConcurrentReads = maxReads }, _statistics));

    private static PageCacheActor.Fetch Fetch(int pid, ulong dump, int pages, long id, ReadPriority priority = ReadPriority.Fault) =>
        new(pid, dump, pages, priority, id);

    [Fact]
    public async Task PageCache_must_reply_with_the_requested_pages()
    {
        var cache = StartCache();
        cache.Tell(Fetch(7, Base + Page, 3, 1));
        var fetched = await ExpectMsgAsync<PageCacheActor.Fetched>();
        Assert.Equal(1, fetched.RequestId);
        Assert.Equal((Base + Page, 3), (fetched.Data.DumpAddress, fetched.Data.Pages));
        for (var i = 0UL; i < 3; i++)
        {
            Assert.True(fetched.Data.TryLocate(Base + ((1 + i) * Page), out var address, out _));
            Assert.Equal(FakePageSource.PatternByte(7, Base + ((1 + i) * Page)), System.Runtime.InteropServices.Marshal.ReadByte(address));
        }

        fetched.Data.Dispose();
        Assert.Equal(0, _source.Live);
    }

    [Fact]
    public async Task PageCache_must_join_a_request_to_a_read_already_in_flight()
    {
        _source.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cache = StartCache();
        cache.Tell(Fetch(7, Base, 8, 1));
        await AwaitConditionAsync(() => _source.Reads.Count == 1);
        cache.Tell(Fetch(7, Base + (2 * Page), 2, 2));
        cache.Tell(Fetch(7, Base, 8, 3));
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));
        _source.Gate.SetResult();

        var replies = new[] { await ExpectMsgAsync<PageCacheActor.Fetched>(), await ExpectMsgAsync<PageCacheActor.Fetched>(), await ExpectMsgAsync<PageCacheActor.Fetched>() };
        Assert.Equal([1L, 2, 3], replies.Select(r => r.RequestId).Order());
        Assert.Single(_source.Reads);
        Assert.Equal(2, _statistics.Deduplicated);
        foreach (var reply in replies)
        {
            Assert.Equal(0, _source.Released);
            reply.Data.Dispose();
        }

        Assert.Equal(1, _source.Released);
    }

    [Fact]
    public async Task PageCache_must_read_an_overtaking_request_on_its_own_even_inside_a_read_in_flight()
    {
        _source.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cache = StartCache();
        cache.Tell(Fetch(7, Base, 8, 1, ReadPriority.Background));
        await AwaitConditionAsync(() => _source.Reads.Count == 1);
        cache.Tell(Fetch(7, Base + (5 * Page), 2, 2) with { Overtake = true });
        await AwaitConditionAsync(() => _source.Reads.Count == 2);
        Assert.Equal((7, Base + (5 * Page), 2), _source.Reads.ElementAt(1));
        Assert.Equal(0, _statistics.Deduplicated);
        _source.Gate.SetResult();

        var replies = new[] { await ExpectMsgAsync<PageCacheActor.Fetched>(), await ExpectMsgAsync<PageCacheActor.Fetched>() };
        Assert.Equal([1L, 2], replies.Select(r => r.RequestId).Order());
        foreach (var reply in replies)
        {
            reply.Data.Dispose();
        }

        Assert.Equal(2, _source.Released);
    }

    [Fact]
    public async Task PageCache_must_coalesce_adjacent_requests_queued_together()
    {
        var cache = StartCache();
        cache.Tell(Fetch(7, Base + (4 * Page), 4, 1));
        cache.Tell(Fetch(7, Base, 4, 2));
        cache.Tell(Fetch(8, Base, 4, 3));
        var replies = new[] { await ExpectMsgAsync<PageCacheActor.Fetched>(), await ExpectMsgAsync<PageCacheActor.Fetched>(), await ExpectMsgAsync<PageCacheActor.Fetched>() };

        Assert.Equal([(7, Base, 8), (8, Base, 4)], _source.Reads.OrderBy(r => r.Pid));
        Assert.Equal(1, _statistics.Coalesced);
        var first = replies.Single(r => r.RequestId == 1).Data;
        Assert.True(first.TryLocate(Base + (4 * Page), out var address, out var bytes));
        Assert.Equal(FakePageSource.PatternByte(7, Base + (4 * Page)), System.Runtime.InteropServices.Marshal.ReadByte(address));
        Assert.Equal(4 * Page, bytes);
        foreach (var reply in replies)
        {
            reply.Data.Dispose();
        }

        Assert.Equal(0, _source.Live);
    }

    [Fact]
    public async Task PageCache_must_serve_fault_requests_before_background_ones()
    {
        _source.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cache = StartCache(maxReads: 1);
        cache.Tell(Fetch(7, Base, 1, 1, ReadPriority.Background));
        await AwaitConditionAsync(() => _source.Reads.Count == 1);
        cache.Tell(Fetch(7, Base + (100 * Page), 16, 2, ReadPriority.Background));
        cache.Tell(Fetch(7, Base + (50 * Page), 1, 3, ReadPriority.Fault));
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));
        _source.Gate.SetResult();

        var order = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            var reply = await ExpectMsgAsync<PageCacheActor.Fetched>();
            order.Add(reply.RequestId);
            reply.Data.Dispose();
        }

        Assert.Equal([1L, 3, 2], order);
        Assert.Equal([Base, Base + (50 * Page), Base + (100 * Page)], _source.Reads.Select(r => r.Dump));
    }

    [Fact]
    public async Task PageCache_must_report_a_failed_read_to_every_waiter()
    {
        _source.Fail = (_, dump) => dump == Base ? new PageDataUnavailableException(7, dump, "pages-1.img", "PE_LAZY without PE_PRESENT") : null;
        var cache = StartCache();
        cache.Tell(Fetch(7, Base, 2, 1));
        cache.Tell(Fetch(7, Base + Page, 1, 2));
        var failures = new[] { await ExpectMsgAsync<PageCacheActor.FetchFailed>(), await ExpectMsgAsync<PageCacheActor.FetchFailed>() };
        Assert.Equal([1L, 2], failures.Select(f => f.RequestId).Order());
        Assert.All(failures, f => Assert.Contains("PE_LAZY", f.Error.Message));

        cache.Tell(Fetch(7, Base + (8 * Page), 1, 3));
        (await ExpectMsgAsync<PageCacheActor.Fetched>()).Data.Dispose();
    }

    [Fact]
    public async Task PageCache_must_release_data_whose_requester_stopped()
    {
        _source.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cache = StartCache();
        var requester = CreateTestProbe();
        cache.Tell(Fetch(7, Base, 4, 1), requester.Ref);
        await AwaitConditionAsync(() => _source.Reads.Count == 1);
        await WatchAsync(requester.Ref);
        Sys.Stop(requester.Ref);
        await ExpectTerminatedAsync(requester.Ref);
        _source.Gate.SetResult();

        await AwaitAssertAsync(() => Assert.Equal(1, _source.Released), TimeSpan.FromSeconds(3));
        Assert.Equal(0, _source.Live);
    }

    [Fact]
    public async Task PageCache_must_keep_many_reads_in_flight_and_complete_them_in_any_order()
    {
        var gates = new Dictionary<ulong, TaskCompletionSource<Engine.Pages.PageRead>>();
        var source = new ManualSource(gates);
        var cache = Sys.ActorOf(PageCacheActor.Props(source, SpecSettings, _statistics));
        for (var i = 0; i < 4; i++)
        {
            cache.Tell(Fetch(7, Base + ((ulong)i * 16 * Page), 1, i));
        }

        await AwaitConditionAsync(() => source.Count == 4);
        foreach (var i in new[] { 3, 0, 2, 1 })
        {
            var dump = Base + ((ulong)i * 16 * Page);
            gates[dump].SetResult(_source.Make(7, dump, 1));
            var reply = await ExpectMsgAsync<PageCacheActor.Fetched>();
            Assert.Equal(i, reply.RequestId);
            reply.Data.Dispose();
        }
    }

    /// <summary>A page source whose reads complete when the test says so.</summary>
    private sealed class ManualSource(Dictionary<ulong, TaskCompletionSource<Engine.Pages.PageRead>> gates) : Engine.Pages.IPageSource
    {
        private readonly object _lock = new();

        public int Count
        {
            get
            {
                lock (_lock)
                {
                    return gates.Count;
                }
            }
        }

        public ValueTask<Engine.Pages.PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, Engine.Pages.ReadPriority priority, CancellationToken cancellationToken)
        {
            var gate = new TaskCompletionSource<Engine.Pages.PageRead>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock)
            {
                gates[dumpAddress] = gate;
            }

            return new ValueTask<Engine.Pages.PageRead>(gate.Task);
        }

        public void Dispose()
        {
        }
    }
}
