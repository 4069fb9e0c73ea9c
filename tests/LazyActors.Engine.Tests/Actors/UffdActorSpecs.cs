using Akka.Actor;
using Akka.TestKit;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;
using Xunit;
using Xunit.Abstractions;
using static LazyActors.Engine.Tests.Actors.ActorSpecSupport;

namespace LazyActors.Engine.Tests.Actors;

public sealed class UffdActorSpecs : Akka.TestKit.Xunit2.TestKit
{
    private const int Pid = 42;
    private const ulong Base = 0x7f00_0000_0000;
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(150);

    private readonly FakePageSource _source = new();
    private readonly FakeUffdHub _hub = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<Exception> _failures = new();
    private readonly TestProbe _cache;
    private readonly TestProbe _pusher;
    private readonly FakeUffd _uffd = new();
    private readonly EngineStatistics _statistics = new(recordsMeters: false);
    private TaskProgress _progress = null!;

    public UffdActorSpecs(ITestOutputHelper output)
        : base(Hocon, output: output)
    {
        _cache = CreateTestProbe("cache");
        _pusher = CreateTestProbe("pusher");
    }

    private IActorRef Start(TaskRangeBook book, bool finished = false, Engine.Pages.IPageSource? direct = null,
        LazyActors.Engine.Configuration.EngineSettings? settings = null, IReadOnlyList<ulong>? registrationChecks = null)
    {
        _progress = new TaskProgress(Pid, "42", (long)book.TotalPages, isForkChild: false);
        var spec = new UffdActor.TaskSpec(Pid, _uffd, book, _progress, finished) { RegistrationChecks = registrationChecks ?? [] };
        var strategy = new OneForOneStrategy(ex =>
        {
            _failures.Enqueue(ex);
            return Directive.Stop;
        });
        var actor = ChildActorOf(UffdActor.Props(spec, _cache.Ref, _pusher.Ref, _hub, settings ?? SpecSettings, direct, _statistics), strategy);
        Watch(actor);
        AwaitCondition(() => _hub.Owners.ContainsKey(_uffd), TimeSpan.FromSeconds(3));
        return actor;
    }

    private async Task<PageCacheActor.Fetch> ServeFetchAsync(IActorRef actor, ReadPriority? priority = null)
    {
        var fetch = await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        if (priority is { } p)
        {
            Assert.Equal(p, fetch.Priority);
        }

        actor.Tell(new PageCacheActor.Fetched(fetch.RequestId, Data(_source, fetch.Pid, fetch.DumpAddress, fetch.Pages)), _cache.Ref);
        return fetch;
    }

    [Fact]
    public async Task UffdActor_must_fetch_a_faulting_pending_page_and_copy_it()
    {
        var actor = Start(Book((Base, Base + (16 * Page))));
        actor.Tell(UffdActor.Events.Of([Fault(Base + (3 * Page) + 17)]));
        var fetch = await ServeFetchAsync(actor, ReadPriority.Fault);

        Assert.Equal((Pid, Base + (3 * Page), 1), (fetch.Pid, fetch.DumpAddress, fetch.Pages));
        await AwaitAssertAsync(() => Assert.Single(_uffd.Copies));
        Assert.Equal(new UffdCall("copy", Base + (3 * Page), Page, FakePageSource.PatternByte(Pid, Base + (3 * Page))), _uffd.Copies[0]);
        Assert.Equal(1, _progress.CopiedByFaults);
        Assert.Equal(1, _progress.Faults);
        await AwaitAssertAsync(() => Assert.Equal(0, _source.Live));
    }

    [Fact]
    public async Task UffdActor_must_claim_the_aligned_window_of_a_scattered_fault_its_own_part_first()
    {
        // Scattered: farther than 8 pages from the previous fault. Window 16 pages: the second fault (page 37) claims
        // pages 37-47 first (its fetch carries the fault), then 32-36; the first fault (page 3) is not scattered.
        var settings = SpecSettings with { ScatteredFaultDistanceBytes = 8 * 4096, ScatteredFaultWindowBytes = 16 * 4096, ChunkMaxBytes = 16 * 4096 };
        var actor = Start(Book((Base, Base + (64 * Page))), settings: settings);
        actor.Tell(UffdActor.Events.Of([Fault(Base + (3 * Page))]));
        var first = await ServeFetchAsync(actor, ReadPriority.Fault);
        Assert.Equal((Base + (3 * Page), 1), (first.DumpAddress, first.Pages));

        actor.Tell(UffdActor.Events.Of([Fault(Base + (37 * Page) + 8)]));
        var own = await ServeFetchAsync(actor, ReadPriority.Fault);
        var before = await ServeFetchAsync(actor, ReadPriority.Fault);
        Assert.Equal((Base + (37 * Page), 11), (own.DumpAddress, own.Pages));
        Assert.Equal((Base + (32 * Page), 5), (before.DumpAddress, before.Pages));
        await AwaitAssertAsync(() => Assert.Equal(3, _uffd.Copies.Count));
        Assert.Equal([Base + (3 * Page), Base + (37 * Page), Base + (32 * Page)], _uffd.Copies.Select(c => c.Address));
        Assert.Equal(17, _progress.CopiedByFaults);
        Assert.Equal(2, _progress.FaultLatency.Count); // the window's part before the page answers no fault
        Assert.All(_uffd.Pages, p => Assert.Equal(FakePageSource.PatternByte(Pid, p.Key), p.Value));
    }

    [Fact]
    public async Task UffdActor_must_claim_read_ahead_from_the_page_for_a_scattered_fault_without_a_window()
    {
        var settings = SpecSettings with { ScatteredFaultDistanceBytes = 8 * 4096, ScatteredFaultWindowBytes = null, FaultReadAheadMinBytes = 4 * 4096 };
        var actor = Start(Book((Base, Base + (64 * Page))), settings: settings);
        actor.Tell(UffdActor.Events.Of([Fault(Base + (3 * Page))]));
        await ServeFetchAsync(actor, ReadPriority.Fault);
        actor.Tell(UffdActor.Events.Of([Fault(Base + (37 * Page))]));
        var fetch = await ServeFetchAsync(actor, ReadPriority.Fault);
        Assert.Equal((Base + (37 * Page), 4), (fetch.DumpAddress, fetch.Pages));
        await _cache.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(50));
    }

    [Fact]
    public async Task UffdActor_must_copy_pages_a_source_maps_at_once_without_asking_the_cache()
    {
        _source.Immediate = true;
        var actor = Start(Book((Base, Base + (16 * Page))), finished: true, direct: _source);
        actor.Tell(UffdActor.Events.Of([Fault(Base + (3 * Page))]));
        await AwaitAssertAsync(() => Assert.Equal(Base + (3 * Page), Assert.Single(_uffd.Copies).Address));
        actor.Tell(new UffdActor.PushChunk(16 * Page), _pusher.Ref);
        Assert.Equal(12, (await _pusher.ExpectMsgAsync<UffdActor.ChunkFinished>()).Pages); // near the fault: pages 4-15
        actor.Tell(new UffdActor.PushChunk(16 * Page), _pusher.Ref);
        Assert.Equal(3, (await _pusher.ExpectMsgAsync<UffdActor.ChunkFinished>()).Pages);
        await ExpectTaskEndedAsync(TaskPhase.Complete);
        await _cache.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(50));
        Assert.Equal(16, _uffd.Pages.Count);
        Assert.All(_uffd.Pages, p => Assert.Equal(FakePageSource.PatternByte(Pid, p.Key), p.Value));
        await AwaitAssertAsync(() => Assert.Equal(0, _source.Live));
    }

    [Fact]
    public async Task UffdActor_must_answer_a_fault_outside_pending_memory_with_a_zero_page()
    {
        var actor = Start(Book((Base, Base + (4 * Page))));
        actor.Tell(UffdActor.Events.Of([Fault(Base + (10 * Page) + 5)]));
        await AwaitAssertAsync(() => Assert.Equal(new UffdCall("zero", Base + (10 * Page), Page, 0), Assert.Single(_uffd.Calls)));
        await _cache.ExpectNoMsgAsync(Quiet);
        Assert.Equal(1, _progress.ZeroPages);
    }

    [Fact]
    public async Task UffdActor_must_fetch_a_page_once_when_two_threads_fault_on_it()
    {
        var actor = Start(Book((Base, Base + (4 * Page))));
        actor.Tell(UffdActor.Events.Of([Fault(Base + Page), Fault(Base + Page + 8)]));
        await ServeFetchAsync(actor);
        await _cache.ExpectNoMsgAsync(Quiet);
        Assert.Single(_uffd.Copies);
        Assert.DoesNotContain(_uffd.Calls, c => c.Kind == "zero");
    }

    [Fact]
    public async Task UffdActor_must_ignore_a_fault_on_a_range_in_flight_and_copy_it_when_the_data_arrives()
    {
        var actor = Start(Book((Base, Base + (8 * Page))), finished: true);
        actor.Tell(new UffdActor.PushChunk(8 * Page), _pusher.Ref);
        var chunk = await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        Assert.Equal(ReadPriority.Background, chunk.Priority);
        actor.Tell(UffdActor.Events.Of([Fault(Base + (5 * Page))]));
        await _cache.ExpectNoMsgAsync(Quiet);
        Assert.Empty(_uffd.Calls);

        actor.Tell(new PageCacheActor.Fetched(chunk.RequestId, Data(_source, Pid, chunk.DumpAddress, chunk.Pages)));
        var done = await _pusher.ExpectMsgAsync<UffdActor.ChunkFinished>();
        Assert.Equal(8, done.Pages);
        Assert.Equal(1, done.FaultsSince);
        Assert.Equal(8, _uffd.Pages.Count);
        Assert.All(_uffd.Copies, c => Assert.True(c.Length <= (ulong)SpecSettings.CopySliceBytes));
        await ExpectTaskEndedAsync(TaskPhase.Complete);
        await ExpectTerminatedAsync(actor);
    }

    [Fact]
    public async Task UffdActor_must_read_a_fault_on_a_pending_background_read_on_its_own_when_faults_overtake()
    {
        var actor = Start(Book((Base, Base + (8 * Page))), finished: true, settings: SpecSettings with { FaultOvertakesBackgroundReads = true });
        actor.Tell(new UffdActor.PushChunk(8 * Page), _pusher.Ref);
        var chunk = await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        Assert.Equal((ReadPriority.Background, false), (chunk.Priority, chunk.Overtake));

        // Two threads fault on the same page: one overtaking read of the urgent window, not two.
        actor.Tell(UffdActor.Events.Of([Fault(Base + (5 * Page)), Fault(Base + (5 * Page) + 8)]));
        var own = await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        Assert.Equal((Base + (5 * Page), 2, ReadPriority.Fault, true), (own.DumpAddress, own.Pages, own.Priority, own.Overtake));
        await _cache.ExpectNoMsgAsync(Quiet);

        // Its pages are copied before the background read arrives, and that read copies only the others.
        actor.Tell(new PageCacheActor.Fetched(own.RequestId, Data(_source, Pid, own.DumpAddress, own.Pages)));
        await AwaitAssertAsync(() => Assert.Equal(new UffdCall("copy", Base + (5 * Page), 2 * Page, FakePageSource.PatternByte(Pid, Base + (5 * Page))), Assert.Single(_uffd.Copies)));
        Assert.Equal(2, _progress.CopiedByFaults);

        actor.Tell(new PageCacheActor.Fetched(chunk.RequestId, Data(_source, Pid, chunk.DumpAddress, chunk.Pages)));
        Assert.Equal(6, (await _pusher.ExpectMsgAsync<UffdActor.ChunkFinished>()).Pages);
        await ExpectTaskEndedAsync(TaskPhase.Complete);
        Assert.Equal(8, _uffd.Pages.Count);
        Assert.All(_uffd.Pages, p => Assert.Equal(FakePageSource.PatternByte(Pid, p.Key), p.Value));
        Assert.Equal(8UL * Page, _uffd.Copies.Aggregate(0UL, (sum, c) => sum + c.Length));
        Assert.Equal(1, _statistics.OvertakingFaults);
    }

    [Fact]
    public async Task UffdActor_must_drop_an_overtaking_read_whose_pages_the_background_read_copied_first()
    {
        var actor = Start(Book((Base, Base + (8 * Page))), finished: true, settings: SpecSettings with { FaultOvertakesBackgroundReads = true });
        actor.Tell(new UffdActor.PushChunk(8 * Page), _pusher.Ref);
        var chunk = await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        actor.Tell(UffdActor.Events.Of([Fault(Base + (7 * Page))]));
        var own = await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        Assert.Equal((Base + (7 * Page), 1, true), (own.DumpAddress, own.Pages, own.Overtake)); // the window ends with the background read

        actor.Tell(new PageCacheActor.Fetched(chunk.RequestId, Data(_source, Pid, chunk.DumpAddress, chunk.Pages)));
        Assert.Equal(8, (await _pusher.ExpectMsgAsync<UffdActor.ChunkFinished>()).Pages);
        await ExpectNoMsgAsync(Quiet); // not complete while the overtaking read is out: its buffer is still owed
        actor.Tell(new PageCacheActor.Fetched(own.RequestId, Data(_source, Pid, own.DumpAddress, own.Pages)));
        await ExpectTaskEndedAsync(TaskPhase.Complete);
        Assert.Equal(8UL * Page, _uffd.Copies.Aggregate(0UL, (sum, c) => sum + c.Length));
        await AwaitAssertAsync(() => Assert.Equal(0, _source.Live));
    }

    [Fact]
    public async Task UffdActor_must_let_a_fault_wait_for_its_background_read_when_faults_do_not_overtake()
    {
        var actor = Start(Book((Base, Base + (8 * Page))), finished: true);
        actor.Tell(new UffdActor.PushChunk(8 * Page), _pusher.Ref);
        await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        actor.Tell(UffdActor.Events.Of([Fault(Base + (5 * Page))]));
        await _cache.ExpectNoMsgAsync(Quiet);
        Assert.Equal(0, _statistics.OvertakingFaults);
    }

    [Fact]
    public async Task UffdActor_must_read_its_first_bytes_during_the_restore_and_copy_them_only_once_it_finished()
    {
        var actor = Start(Book((Base, Base + (8 * Page))), settings: SpecSettings with { PrefetchDuringRestoreBytes = 6 * (long)Page });
        var early = await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        Assert.Equal((Base, 6, ReadPriority.Background), (early.DumpAddress, early.Pages, early.Priority));
        actor.Tell(new PageCacheActor.Fetched(early.RequestId, Data(_source, Pid, early.DumpAddress, early.Pages)));
        await _cache.ExpectNoMsgAsync(Quiet);
        Assert.Empty(_uffd.Copies); // the restorer may still move the memory

        actor.Tell(UffdActor.RestoreFinished.Instance);
        await AwaitAssertAsync(() => Assert.Equal(6, _uffd.Pages.Count));
        await _pusher.ExpectNoMsgAsync(Quiet); // no chunk of the pusher's
        Assert.Equal(6, _progress.CopiedByPusher);

        actor.Tell(new UffdActor.PushChunk(8 * Page), _pusher.Ref);
        var rest = await ServeFetchAsync(actor, ReadPriority.Background);
        Assert.Equal((Base + (6 * Page), 2), (rest.DumpAddress, rest.Pages));
        Assert.Equal(2, (await _pusher.ExpectMsgAsync<UffdActor.ChunkFinished>()).Pages);
        await ExpectTaskEndedAsync(TaskPhase.Complete);
        Assert.All(_uffd.Pages, p => Assert.Equal(FakePageSource.PatternByte(Pid, p.Key), p.Value));
        await AwaitAssertAsync(() => Assert.Equal(0, _source.Live));
    }

    [Fact]
    public async Task UffdActor_must_copy_background_chunks_in_slices_and_report_to_the_pusher()
    {
        var actor = Start(Book((Base, Base + (12 * Page))), finished: true);
        actor.Tell(new UffdActor.PushChunk(10 * Page), _pusher.Ref);
        var fetch = await ServeFetchAsync(actor, ReadPriority.Background);
        Assert.Equal(10, fetch.Pages);
        var done = await _pusher.ExpectMsgAsync<UffdActor.ChunkFinished>();
        Assert.Equal(10, done.Pages);
        Assert.Equal([4 * Page, 4 * Page, 2 * Page], _uffd.Copies.Select(c => c.Length));

        actor.Tell(new UffdActor.PushChunk(10 * Page), _pusher.Ref);
        await ServeFetchAsync(actor);
        await _pusher.ExpectMsgAsync<UffdActor.ChunkFinished>();
        await ExpectTaskEndedAsync(TaskPhase.Complete);
        Assert.Equal(12, _progress.CopiedByPusher);
        await ExpectTerminatedAsync(actor);
        Assert.True(_uffd.IsDisposed);
        Assert.Contains(_uffd, _hub.Unwatched);
    }

    [Fact]
    public async Task UffdActor_must_say_when_nothing_is_left_to_push()
    {
        var actor = Start(Book((Base, Base + Page)));
        actor.Tell(UffdActor.Events.Of([Fault(Base)]));
        await ServeFetchAsync(actor);
        actor.Tell(new UffdActor.PushChunk(4 * Page), _pusher.Ref);
        actor.Tell(UffdActor.RestoreFinished.Instance);
        Assert.Equal(actor, (await _pusher.ExpectMsgAsync<UffdActor.NothingToPush>()).Task);
        await ExpectTaskEndedAsync(TaskPhase.Complete);
    }

    [Fact]
    public async Task UffdActor_must_keep_a_chunk_that_comes_before_restore_finished_until_then()
    {
        var actor = Start(Book((Base, Base + (8 * Page))));
        actor.Tell(new UffdActor.PushChunk(4 * Page), _pusher.Ref);
        actor.Tell(UffdActor.Events.Of([Fault(Base + (6 * Page))]));
        Assert.Equal(ReadPriority.Fault, (await ServeFetchAsync(actor)).Priority);
        await _cache.ExpectNoMsgAsync(Quiet);

        actor.Tell(UffdActor.RestoreFinished.Instance);
        await ServeFetchAsync(actor, ReadPriority.Background);
        Assert.Equal(actor, (await _pusher.ExpectMsgAsync<UffdActor.ChunkFinished>()).Task);
    }

    [Fact]
    public async Task UffdActor_must_complete_only_after_restore_finished()
    {
        var actor = Start(Book());
        await ExpectNoMsgAsync(Quiet);
        actor.Tell(UffdActor.RestoreFinished.Instance);
        await ExpectTaskEndedAsync(TaskPhase.Complete);
        await ExpectTerminatedAsync(actor);
    }

    [Fact]
    public async Task UffdActor_must_treat_EEXIST_as_a_page_already_present_and_copy_the_rest()
    {
        _uffd.Respond = c => c.Kind == "copy" && c.Address == Base ? Fail(Errno.EEXIST, (long)Page) : Ok(c.Length);
        var actor = Start(Book((Base, Base + (4 * Page))), finished: true);
        actor.Tell(new UffdActor.PushChunk(4 * Page), _pusher.Ref);
        await ServeFetchAsync(actor);
        await _pusher.ExpectMsgAsync<UffdActor.ChunkFinished>();
        await ExpectTaskEndedAsync(TaskPhase.Complete);
        Assert.Equal([Base, Base + (2 * Page)], _uffd.Copies.Select(c => c.Address));
    }

    /// <summary>A uffd without unmap events (an old kernel): ENOENT may be an unmap nobody reported, so it is dropped.</summary>
    [Fact]
    public async Task UffdActor_must_treat_ENOENT_as_gone_memory()
    {
        _uffd.ReportsMemoryChanges = false;
        _uffd.Respond = c => c.Kind == "copy" ? Fail(Errno.ENOENT) : Ok(c.Length);
        var actor = Start(Book((Base, Base + (4 * Page))), finished: true);
        actor.Tell(UffdActor.Events.Of([Fault(Base)]));
        await ServeFetchAsync(actor);
        actor.Tell(new UffdActor.PushChunk(4 * Page), _pusher.Ref);
        await ServeFetchAsync(actor);
        await ExpectTaskEndedAsync(TaskPhase.Complete);
        Assert.Equal(4, _progress.DroppedPages);
    }

    /// <summary>With unmap events reported, a page no registered VMA holds is lost data: the task fails at once, naming
    /// the range; the pages around it were copied.</summary>
    [Fact]
    public async Task UffdActor_must_fail_a_task_that_lost_a_page_naming_the_range()
    {
        _uffd.RegisteredVmas = [(Base, Base + (2 * Page)), (Base + (3 * Page), Base + (4 * Page))];
        var actor = Start(Book((Base, Base + (4 * Page))), finished: true);
        actor.Tell(new UffdActor.PushChunk(4 * Page), _pusher.Ref);
        await ServeFetchAsync(actor);

        var ended = await ExpectTaskEndedAsync(TaskPhase.Failed);
        Assert.Contains($"0x{Base + (2 * Page):x}-0x{Base + (3 * Page):x}", ended.Reason);
        Assert.Contains("lost", ended.Reason);
        Assert.Contains("pid 42", ended.Reason);
        Assert.Equal(1, _progress.LostPages);
        Assert.Equal(3, _uffd.Pages.Count);
        await ExpectTerminatedAsync(actor);
        Assert.True(_uffd.IsDisposed);
    }

    /// <summary>At "restore finished" the first page of every lazy VMA is copied (registration check), without a fault.</summary>
    [Fact]
    public async Task UffdActor_must_copy_the_first_page_of_every_lazy_vma_when_the_restore_finishes()
    {
        var actor = Start(Book((Base, Base + (4 * Page)), (Base + (8 * Page), Base + (12 * Page))), registrationChecks: [Base, Base + (8 * Page)]);
        actor.Tell(UffdActor.RestoreFinished.Instance);
        var first = await ServeFetchAsync(actor, ReadPriority.Fault);
        var second = await ServeFetchAsync(actor, ReadPriority.Fault);

        Assert.Equal([(Base, 1), (Base + (8 * Page), 1)], new[] { (first.DumpAddress, first.Pages), (second.DumpAddress, second.Pages) });
        await AwaitAssertAsync(() => Assert.Equal([Base, Base + (8 * Page)], _uffd.Copies.Select(c => c.Address).Order()));
        Assert.Equal(0, _progress.Faults);
        Assert.Equal(TaskPhase.Serving, _progress.Phase);
    }

    /// <summary>Nothing registered (a restorer that never called UFFDIO_REGISTER): the registration check finds it at
    /// "restore finished", even when nothing faults and nothing is pushed.</summary>
    [Fact]
    public async Task UffdActor_must_fail_at_restore_finished_a_task_whose_memory_was_never_registered()
    {
        _uffd.RegisteredVmas = [];
        var actor = Start(Book((Base, Base + (4 * Page))), registrationChecks: [Base]);
        actor.Tell(UffdActor.RestoreFinished.Instance);
        await ServeFetchAsync(actor);

        var ended = await ExpectTaskEndedAsync(TaskPhase.Failed);
        Assert.Contains($"0x{Base:x}-0x{Base + Page:x}", ended.Reason);
        await ExpectTerminatedAsync(actor);
    }

    /// <summary>The kernel sends no exit event: an idle task is probed (UFFDIO_ZEROPAGE of a page it has nothing pending
    /// on) and ends as exited once the probe answers ESRCH; the probe never touches its pending pages.</summary>
    [Fact]
    public async Task UffdActor_must_end_an_idle_task_when_the_liveness_probe_finds_its_memory_gone()
    {
        var dead = 0;
        _uffd.Respond = c => c.Kind == "zero" && Volatile.Read(ref dead) == 1 ? Fail(Errno.ESRCH) : c.Kind == "zero" ? Fail(Errno.ENOENT) : Ok(c.Length);
        var actor = Start(Book((Base, Base + (8 * Page))), settings: SpecSettings with { LivenessProbeInterval = TimeSpan.FromMilliseconds(50) });

        await AwaitAssertAsync(() => Assert.True(_uffd.Calls.Count(c => c.Kind == "zero") >= 2), TimeSpan.FromSeconds(5));
        Assert.Equal(TaskPhase.Serving, _progress.Phase);
        Volatile.Write(ref dead, 1);

        var ended = await ExpectTaskEndedAsync(TaskPhase.Exited);
        Assert.Contains("liveness probe", ended.Reason);
        Assert.Contains("ESRCH", ended.Reason);
        await ExpectTerminatedAsync(actor);
        Assert.Empty(_uffd.Copies);
        Assert.All(_uffd.Calls, c => Assert.False(c.Address >= Base && c.Address < Base + (8 * Page), $"probed 0x{c.Address:x}, a pending page"));
    }

    /// <summary>The probe's usual page is pending in this task: another one is probed instead.</summary>
    [Fact]
    public async Task UffdActor_must_never_probe_a_pending_page()
    {
        var high = LivenessProbe.HighCandidate;
        var actor = Start(Book((high - (4 * Page), high + Page)), settings: SpecSettings with { LivenessProbeInterval = TimeSpan.FromMilliseconds(50) });
        await AwaitAssertAsync(() => Assert.True(_uffd.Calls.Count(c => c.Kind == "zero") >= 2), TimeSpan.FromSeconds(5));
        Assert.All(_uffd.Calls, c => Assert.False(c.Address >= high - (4 * Page) && c.Address <= high, $"probed 0x{c.Address:x}, a pending page"));
        Assert.Equal(TaskPhase.Serving, _progress.Phase);
        _ = actor;
    }

    /// <summary>A task with faults is not probed: its copies would see an exit themselves. The faults run for several
    /// probe intervals, each within half an interval of the last, so every tick sees activity. A shared machine can
    /// stall the test itself for longer than that; such an attempt proves nothing either way and is run again (at most
    /// three), but a probe during an attempt whose faults kept to their spacing fails the test.</summary>
    [SkippableFact]
    public async Task UffdActor_must_not_probe_a_busy_task()
    {
        var interval = TimeSpan.FromMilliseconds(400);
        var actor = Start(Book((Base, Base + (512 * Page))), settings: SpecSettings with { LivenessProbeInterval = interval });
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var probesBefore = _uffd.Calls.Count(c => c.Kind == "zero");
            var widestGap = TimeSpan.Zero;
            var last = System.Diagnostics.Stopwatch.StartNew();
            for (var i = 0; i < 40; i++)
            {
                actor.Tell(UffdActor.Events.Of([Fault(Base + ((ulong)((attempt * 160) + (i * 4)) * Page))]));
                await ServeFetchAsync(actor);
                if (last.Elapsed > widestGap)
                {
                    widestGap = last.Elapsed;
                }

                last.Restart();
                await Task.Delay(20);
            }

            if (widestGap < interval / 2)
            {
                Assert.Equal(probesBefore, _uffd.Calls.Count(c => c.Kind == "zero"));
                return;
            }
        }

        Skip.If(true, "the machine stalled this test longer than half a probe interval in each of 3 attempts; nothing shown");
    }

    [Fact]
    public async Task UffdActor_must_fail_the_task_when_reading_its_uffd_fails()
    {
        var actor = Start(Book((Base, Base + (4 * Page))));
        actor.Tell(new UffdActor.ReadFailed(new IOException("epoll reported error condition (EPOLLERR)")));
        await ExpectTerminatedAsync(actor);
        Assert.Contains("reading its userfaultfd failed", Assert.Single(_failures).Message);
    }

    [Theory]
    [InlineData(Errno.ESRCH)]
    [InlineData(Errno.ENOSPC)]
    public async Task UffdActor_must_stop_when_the_task_is_gone_during_a_copy(Errno errno)
    {
        _uffd.Respond = c => Fail(errno);
        var actor = Start(Book((Base, Base + (4 * Page))));
        actor.Tell(UffdActor.Events.Of([Fault(Base)]));
        await ServeFetchAsync(actor);
        var ended = await ExpectTaskEndedAsync(TaskPhase.Exited);
        Assert.Contains(errno.ToString(), ended.Reason);
        await ExpectTerminatedAsync(actor);
        Assert.True(_uffd.IsDisposed);
        await AwaitAssertAsync(() => Assert.Equal(0, _source.Live));
    }

    [Fact]
    public async Task UffdActor_must_stop_when_the_task_is_gone_during_a_zero_page()
    {
        _uffd.Respond = c => Fail(Errno.ESRCH);
        var actor = Start(Book());
        actor.Tell(UffdActor.Events.Of([Fault(Base)]));
        await ExpectTaskEndedAsync(TaskPhase.Exited);
        await ExpectTerminatedAsync(actor);
    }

    [Fact]
    public async Task UffdActor_must_release_pages_in_flight_when_the_task_exits()
    {
        var actor = Start(Book((Base, Base + (8 * Page))), finished: true);
        actor.Tell(new UffdActor.PushChunk(4 * Page), _pusher.Ref);
        var inFlight = await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        _uffd.Respond = c => Fail(Errno.ESRCH);
        actor.Tell(UffdActor.Events.Of([Fault(Base + (6 * Page))]));
        await ServeFetchAsync(actor);
        await ExpectTaskEndedAsync(TaskPhase.Exited);
        await ExpectTerminatedAsync(actor);

        // The late reply for the chunk goes to a dead actor; whoever sent it (the page cache) releases it.
        var late = Data(_source, Pid, inFlight.DumpAddress, inFlight.Pages);
        actor.Tell(new PageCacheActor.Fetched(inFlight.RequestId, late));
        Assert.False(late.IsReleased);
        late.Dispose();
        await AwaitAssertAsync(() => Assert.Equal(0, _source.Live));
    }

    [Fact]
    public async Task UffdActor_must_retry_EAGAIN_keeping_the_part_already_copied()
    {
        var calls = 0;
        _uffd.Respond = c => Interlocked.Increment(ref calls) == 1 ? Fail(Errno.EAGAIN, (long)Page) : Ok(c.Length);
        var actor = Start(Book((Base, Base + (4 * Page))), finished: true);
        actor.Tell(new UffdActor.PushChunk(4 * Page), _pusher.Ref);
        await ServeFetchAsync(actor);
        await _pusher.ExpectMsgAsync<UffdActor.ChunkFinished>();
        Assert.Equal([(Base, 4 * Page), (Base + Page, 3 * Page)], _uffd.Copies.Select(c => (c.Address, c.Length)));
        Assert.Equal(4, _progress.CopiedByPusher);
        await ExpectTaskEndedAsync(TaskPhase.Complete);
    }

    [Fact]
    public async Task UffdActor_must_retry_EAGAIN_on_a_zero_page()
    {
        var calls = 0;
        _uffd.Respond = c => Interlocked.Increment(ref calls) <= 2 ? Fail(Errno.EAGAIN) : Ok(c.Length);
        var actor = Start(Book());
        actor.Tell(UffdActor.Events.Of([Fault(Base)]));
        await AwaitAssertAsync(() => Assert.Equal(3, _uffd.Calls.Count(c => c.Kind == "zero")), TimeSpan.FromSeconds(3));
        await AwaitAssertAsync(() => Assert.Equal(1, _progress.ZeroPages));
        Assert.Equal(1, _progress.Faults);
        await _cache.ExpectNoMsgAsync(Quiet);
        _ = actor;
    }

    [Fact]
    public async Task UffdActor_must_fail_the_task_when_EAGAIN_never_ends()
    {
        _uffd.Respond = c => Fail(Errno.EAGAIN);
        var actor = Start(Book((Base, Base + (4 * Page))));
        actor.Tell(UffdActor.Events.Of([Fault(Base)]));
        await ServeFetchAsync(actor);
        await ExpectTerminatedAsync(actor, TimeSpan.FromSeconds(5));
        Assert.InRange(_uffd.Copies.Count, SpecSettings.EagainRetryLimit, SpecSettings.EagainRetryLimit + 2);
        Assert.Contains("EAGAIN", Assert.Single(_failures).Message);
        Assert.True(_uffd.IsDisposed);
    }

    [Theory]
    [InlineData(Errno.EFAULT)]
    [InlineData(Errno.EINVAL)]
    public async Task UffdActor_must_fail_the_task_on_an_unexpected_errno(Errno errno)
    {
        _uffd.Respond = c => Fail(errno);
        var actor = Start(Book((Base, Base + (4 * Page))));
        actor.Tell(UffdActor.Events.Of([Fault(Base)]));
        await ServeFetchAsync(actor);
        await ExpectTerminatedAsync(actor);
        var failure = Assert.IsType<TaskFailedException>(Assert.Single(_failures));
        Assert.Equal((Pid, errno, Base), (failure.Pid, failure.Errno, failure.Address));
        Assert.Contains($"0x{Base:x}", failure.Message);
        Assert.Contains(errno.ToString(), failure.Message);
    }

    [Fact]
    public async Task UffdActor_must_fail_the_task_when_its_pages_cannot_be_read()
    {
        var actor = Start(Book((Base, Base + (4 * Page))));
        actor.Tell(UffdActor.Events.Of([Fault(Base)]));
        var fetch = await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        actor.Tell(new PageCacheActor.FetchFailed(fetch.RequestId, fetch.DumpAddress, fetch.Pages, new IOException("disk on fire")));
        await ExpectTerminatedAsync(actor);
        Assert.Contains("disk on fire", Assert.Single(_failures).Message);
    }

    [Fact]
    public async Task UffdActor_must_fail_the_task_on_an_unknown_event()
    {
        var actor = Start(Book());
        actor.Tell(UffdActor.Events.Of([new UffdMsg { Event = (UffdEvent)0x42 }]));
        await ExpectTerminatedAsync(actor);
        Assert.Contains("unexpected uffd event 0x42", Assert.Single(_failures).Message);
    }

    [Fact]
    public async Task UffdActor_must_hand_a_fork_child_its_pending_and_in_flight_ranges()
    {
        var actor = Start(Book((Base, Base + (8 * Page))), finished: true);
        actor.Tell(new UffdActor.PushChunk(2 * Page), _pusher.Ref);
        await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        var pipe = ReadinessSignal();
        actor.Tell(UffdActor.Events.Of([Fork((uint)pipe)]));
        var born = await ExpectMsgAsync<UffdActor.ForkChildBorn>();
        Assert.Equal(Pid, born.Pid);
        Assert.Equal(8, born.TotalPages);
        Assert.Equal(8UL, born.Book.Pending.TotalPages);
        Assert.True(born.Book.InFlight.IsEmpty);
        Assert.Single(_hub.Opened);
    }

    [Fact]
    public async Task UffdActor_must_fetch_by_dump_address_after_a_remap()
    {
        const ulong moved = Base + 0x1000_0000;
        var actor = Start(Book((Base, Base + (4 * Page))));
        actor.Tell(UffdActor.Events.Of([Remap(Base, moved, 4 * Page), Fault(moved + (2 * Page))]));
        var fetch = await ServeFetchAsync(actor);
        Assert.Equal(Base + (2 * Page), fetch.DumpAddress);
        await AwaitAssertAsync(() => Assert.Equal(moved + (2 * Page), Assert.Single(_uffd.Copies).Address));
        Assert.Equal(FakePageSource.PatternByte(Pid, Base + (2 * Page)), _uffd.Copies[0].FirstByte);
    }

    [Fact]
    public async Task UffdActor_must_copy_to_the_new_place_when_a_remap_happens_while_in_flight()
    {
        const ulong moved = Base + 0x1000_0000;
        var actor = Start(Book((Base, Base + (4 * Page))));
        actor.Tell(UffdActor.Events.Of([Fault(Base + Page)]));
        var fetch = await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        actor.Tell(UffdActor.Events.Of([Remap(Base, moved, 4 * Page)]));
        actor.Tell(new PageCacheActor.Fetched(fetch.RequestId, Data(_source, Pid, fetch.DumpAddress, fetch.Pages)));
        await AwaitAssertAsync(() => Assert.Equal(moved + Page, Assert.Single(_uffd.Copies).Address));
    }

    [Fact]
    public void Events_count_their_non_pagefault_events_once_where_the_batch_is_made()
    {
        var batch = UffdActor.Events.Of([Fault(Base), Remap(Base, Base + Page, Page), Fault(Base + Page), Unmap(Base, Base + Page)]);
        Assert.Equal(4, batch.Messages.Length);
        Assert.Equal(2, batch.NonPagefaultEvents);
        Assert.Equal(0, UffdActor.Events.Of([Fault(Base)]).NonPagefaultEvents);
    }

    [Fact]
    public async Task UffdActor_must_acknowledge_the_events_its_batches_carry()
    {
        var actor = Start(Book((Base, Base + (8 * Page))));
        actor.Tell(UffdActor.Events.Of([Remap(Base, Base, Page), Fault(Base + (6 * Page)), Unmap(Base + (2 * Page), Base + (4 * Page))]));
        await ServeFetchAsync(actor);
        actor.Tell(UffdActor.Events.Of([Fault(Base + (7 * Page))]));
        await ServeFetchAsync(actor);
        await AwaitAssertAsync(() => Assert.Equal(2, _uffd.Copies.Count));
        Assert.Equal(2, _uffd.EventsAcknowledged);
    }

    [Fact]
    public async Task UffdActor_must_unregister_and_drop_removed_memory()
    {
        var actor = Start(Book((Base, Base + (8 * Page))), finished: true);
        actor.Tell(UffdActor.Events.Of([Remove(Base, Base + (8 * Page))]));
        await ExpectTaskEndedAsync(TaskPhase.Complete);
        Assert.Equal(new UffdCall("unregister", Base, 8 * Page, 0), Assert.Single(_uffd.Calls));
        Assert.Equal(8, _progress.DroppedPages);
        await ExpectTerminatedAsync(actor);
    }

    [Fact]
    public async Task UffdActor_must_drop_unmapped_memory_without_unregistering()
    {
        var actor = Start(Book((Base, Base + (8 * Page))));
        actor.Tell(UffdActor.Events.Of([Unmap(Base + (2 * Page), Base + (4 * Page)), Fault(Base + (3 * Page))]));
        await AwaitAssertAsync(() => Assert.Equal("zero", Assert.Single(_uffd.Calls).Kind));
        Assert.Equal(2, _progress.DroppedPages);
        await _cache.ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task UffdActor_must_discard_data_of_memory_removed_while_its_copy_was_in_flight()
    {
        var actor = Start(Book((Base, Base + (4 * Page))), finished: true);
        actor.Tell(UffdActor.Events.Of([Fault(Base)]));
        var fetch = await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        actor.Tell(UffdActor.Events.Of([Remove(Base, Base + (4 * Page))]));
        actor.Tell(new PageCacheActor.Fetched(fetch.RequestId, Data(_source, Pid, fetch.DumpAddress, fetch.Pages)));
        await ExpectTaskEndedAsync(TaskPhase.Complete);
        Assert.Empty(_uffd.Copies);
        await AwaitAssertAsync(() => Assert.Equal(0, _source.Live));
    }

    [Fact]
    public async Task UffdActor_must_treat_ENOMEM_from_unregister_as_task_exit()
    {
        _uffd.UnregisterResult = Errno.ENOMEM;
        var actor = Start(Book((Base, Base + (4 * Page))));
        actor.Tell(UffdActor.Events.Of([Remove(Base, Base + Page)]));
        await ExpectTaskEndedAsync(TaskPhase.Exited);
        await ExpectTerminatedAsync(actor);
    }

    [Fact]
    public async Task UffdActor_must_fail_the_task_when_unregister_fails_otherwise()
    {
        _uffd.UnregisterResult = Errno.EINVAL;
        var actor = Start(Book((Base, Base + (4 * Page))));
        actor.Tell(UffdActor.Events.Of([Remove(Base, Base + Page)]));
        await ExpectTerminatedAsync(actor);
        Assert.Equal(Errno.EINVAL, Assert.IsType<TaskFailedException>(Assert.Single(_failures)).Errno);
        Assert.True(_uffd.IsDisposed);
    }

    [Fact]
    public async Task UffdActor_must_read_ahead_when_faults_are_sequential()
    {
        var actor = Start(Book((Base, Base + (32 * Page))));
        var sizes = new List<int>();
        var next = Base;
        for (var i = 0; i < 4; i++)
        {
            actor.Tell(UffdActor.Events.Of([Fault(next)]));
            var fetch = await ServeFetchAsync(actor);
            sizes.Add(fetch.Pages);
            next = fetch.DumpAddress + ((ulong)fetch.Pages * Page);
        }

        Assert.Equal([1, 2, 4, 4], sizes);
    }

    [Fact]
    public async Task UffdActor_must_claim_background_chunks_near_recent_faults()
    {
        var actor = Start(Book((Base, Base + (64 * Page))), finished: true);
        actor.Tell(UffdActor.Events.Of([Fault(Base + (40 * Page))]));
        await ServeFetchAsync(actor);
        actor.Tell(new UffdActor.PushChunk(4 * Page), _pusher.Ref);
        var chunk = await _cache.ExpectMsgAsync<PageCacheActor.Fetch>();
        Assert.InRange(chunk.DumpAddress, Base + (36 * Page), Base + (44 * Page));
    }

    private async Task<UffdActor.TaskEnded> ExpectTaskEndedAsync(TaskPhase phase)
    {
        var ended = await FishForMessageAsync<UffdActor.TaskEnded>(_ => true, TimeSpan.FromSeconds(5));
        Assert.Equal(phase, ended.Phase);
        Assert.Equal(phase, _progress.Phase);
        return ended;
    }

    /// <summary>A real descriptor number standing for the child uffd of a FORK event (the hub closes it).</summary>
    private static int ReadinessSignal()
    {
        var (read, write) = Engine.Restorer.ReadinessSignal.CreateInheritablePipe();
        read.Dispose();
        return write;
    }
}
