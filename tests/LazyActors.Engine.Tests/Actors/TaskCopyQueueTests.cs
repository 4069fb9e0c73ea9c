using Akka.Event;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using Xunit;
using static LazyActors.Engine.Tests.Actors.ActorSpecSupport;

namespace LazyActors.Engine.Tests.Actors;

public sealed class TaskCopyQueueTests
{
    private const int Pid = 7;
    private const ulong Base = 0x6000_0000_0000;
    private const ulong Slice = 4 * Page;
    private readonly FakePageSource _source = new();
    private readonly FakeUffd _uffd = new();
    private readonly TaskRangeBook _book = Book((Base, Base + (16 * Page)));
    private readonly TaskProgress _progress = new(Pid, "7", 16, isForkChild: false);
    private readonly TaskCopyQueue _queue;

    public TaskCopyQueueTests()
    {
        _queue = new TaskCopyQueue(Pid, "7", _uffd, _book, _progress, Slice, urgentWindowBytes: 2 * Page, NoLogger.Instance);
    }

    /// <summary>Claims [first, first + pages) as a fault would (or a background chunk) and queues its data.</summary>
    private CopyJob Queue(int first, int pages, bool background)
    {
        var start = Base + ((ulong)first * Page);
        var decision = _book.OnFault(start, (ulong)pages * Page);
        Assert.Equal(FaultOutcome.Claimed, decision.Outcome);
        var job = new CopyJob(start, pages, background, (ulong)pages * Page, Data(_source, Pid, start, pages));
        _queue.Add(job);
        return job;
    }

    [Fact]
    public void Fault_jobs_are_copied_whole_and_background_jobs_one_slice_per_turn()
    {
        var chunk = Queue(0, 10, background: true);
        Queue(12, 2, background: false);

        var first = _queue.Run();
        Assert.Equal(CopyRoundEnd.Copied, first.End);
        Assert.Null(first.FinishedChunk);
        Assert.Equal([(Base + (12 * Page), 2 * Page), (Base, Slice)], _uffd.Copies.Select(c => (c.Address, c.Length)));
        Assert.True(_queue.HasBackgroundJobs);

        Assert.Null(_queue.Run().FinishedChunk);
        var last = _queue.Run();
        Assert.Same(chunk, last.FinishedChunk);
        Assert.Equal(10, chunk.PagesCopied);
        Assert.False(_queue.HasBackgroundJobs);
        Assert.True(_queue.IsEmpty);
        Assert.Equal([Slice, Slice, 2 * Page], _uffd.Copies.Skip(1).Select(c => c.Length));
        Assert.Equal((2L, 10L), (_progress.CopiedByFaults, _progress.CopiedByPusher));
        Assert.All(_uffd.Pages, p => Assert.Equal(FakePageSource.PatternByte(Pid, p.Key), p.Value));
        Assert.Equal(0, _source.Live);
    }

    [Fact]
    public void EAGAIN_keeps_the_copied_part_and_counts_retries_until_the_job_moves_again()
    {
        var calls = 0;
        _uffd.Respond = c => ++calls switch
        {
            1 => Fail(Errno.EAGAIN, (long)Page),
            2 => Fail(Errno.EAGAIN),
            _ => Ok(c.Length),
        };
        var job = Queue(0, 4, background: false);

        var blocked = _queue.Run();
        Assert.Same(job, blocked.BlockedJob);
        Assert.Equal((Base + Page, 1), (job.Cursor, job.Retries));
        Assert.Same(job, _queue.Run().BlockedJob);
        Assert.Equal(2, job.Retries);

        Assert.Equal(CopyRoundEnd.Copied, _queue.Run().End);
        Assert.True(_queue.IsEmpty);
        Assert.Equal([(Base, 4 * Page), (Base + Page, 3 * Page), (Base + Page, 3 * Page)], _uffd.Copies.Select(c => (c.Address, c.Length)));
        Assert.Equal(4, _progress.CopiedByFaults);
    }

    [Theory]
    [InlineData(Errno.ESRCH)]
    [InlineData(Errno.ENOSPC)]
    public void A_task_gone_ends_the_turn_and_its_data_is_released(Errno errno)
    {
        _uffd.Respond = _ => Fail(errno);
        Queue(0, 4, background: false);
        Queue(8, 4, background: true);

        var round = _queue.Run();
        Assert.Equal(CopyRoundEnd.TaskGone, round.End);
        Assert.Equal($"UFFDIO_COPY at 0x{Base:x}: {errno}", round.GoneReason);
        Assert.Equal(2, _source.Live);
        _queue.ReleaseAll();
        Assert.True(_queue.IsEmpty);
        Assert.Equal(0, _source.Live);
    }

    /// <summary>Without unmap events (an old kernel), ENOENT may be an unmap nobody was told of: the page is dropped, as
    /// CRIU does, page by page (the neighbours are still copied where they can be).</summary>
    [Fact]
    public void EEXIST_skips_the_page_that_is_there_and_ENOENT_drops_the_memory_that_is_gone()
    {
        _uffd.ReportsMemoryChanges = false;
        _uffd.Respond = c => c.Address switch
        {
            Base => Fail(Errno.EEXIST, (long)Page),
            >= Base + (8 * Page) and < Base + (12 * Page) => Fail(Errno.ENOENT),
            _ => Ok(c.Length),
        };
        Queue(0, 4, background: false);
        Queue(8, 4, background: false);

        Assert.Equal(CopyRoundEnd.Copied, _queue.Run().End);
        Assert.Equal([Base, Base + (2 * Page), Base + (8 * Page)], _uffd.Copies.Select(c => c.Address).Distinct().Take(3));
        Assert.Equal(4, _progress.DroppedPages);
        Assert.Equal(4UL, _book.DroppedPages);
        Assert.Equal(0UL, _book.LostPages);
        Assert.True(_book.InFlight.IsEmpty);
    }

    [Fact]
    public void A_copy_is_cut_at_every_dump_time_vma_boundary_so_the_kernel_never_refuses_it()
    {
        _uffd.RegisteredVmas = [(Base, Base + (6 * Page)), (Base + (6 * Page), Base + (7 * Page)), (Base + (7 * Page), Base + (16 * Page))];
        var queue = new TaskCopyQueue(Pid, "7", _uffd, _book, _progress, 16 * Page, 2 * Page, NoLogger.Instance,
            new VmaBoundaries([Base, Base + (6 * Page), Base + (7 * Page), Base + (16 * Page)]));
        var start = Base;
        Assert.Equal(FaultOutcome.Claimed, _book.OnFault(start, 10 * Page).Outcome);
        queue.Add(new CopyJob(start, 10, false, 0, Data(_source, Pid, start, 10)));

        Assert.Equal(CopyRoundEnd.Copied, queue.Run().End);
        Assert.Equal([(Base, 6 * Page), (Base + (6 * Page), Page), (Base + (7 * Page), 3 * Page)], _uffd.Copies.Select(c => (c.Address, c.Length)));
        Assert.Equal(10, _uffd.Pages.Count);
        Assert.Equal((0UL, 0UL), (_book.DroppedPages, _book.LostPages));
    }

    /// <summary>The task split a VMA after the dump (mprotect of part of it): the copy crossing the new boundary is refused
    /// with ENOENT and retried in halves, and every page is still copied.</summary>
    [Fact]
    public void ENOENT_for_a_copy_across_a_vma_split_after_the_dump_retries_in_halves_and_loses_nothing()
    {
        _uffd.RegisteredVmas = [(Base, Base + (5 * Page)), (Base + (5 * Page), Base + (16 * Page))];
        Queue(0, 12, background: false);

        Assert.Equal(CopyRoundEnd.Copied, _queue.Run().End);
        Assert.Equal(12, _uffd.Pages.Count);
        Assert.All(_uffd.Pages, p => Assert.Equal(FakePageSource.PatternByte(Pid, p.Key), p.Value));
        Assert.Equal((0UL, 0UL, 12UL), (_book.DroppedPages, _book.LostPages, _book.CopiedPages));
        Assert.True(_book.InFlight.IsEmpty);
        Assert.True(_uffd.Copies.Count <= 8, $"{_uffd.Copies.Count} copies for one split");
    }

    /// <summary>A page no registered VMA holds, with the uffd reporting every unmap: only that page is lost (named), its
    /// neighbours on both sides are copied.</summary>
    [Fact]
    public void ENOENT_for_one_page_loses_that_page_only()
    {
        _uffd.RegisteredVmas = [(Base, Base + (3 * Page)), (Base + (4 * Page), Base + (16 * Page))];
        Queue(0, 8, background: false);

        Assert.Equal(CopyRoundEnd.Copied, _queue.Run().End);
        Assert.Equal(7, _uffd.Pages.Count);
        Assert.DoesNotContain(Base + (3 * Page), _uffd.Pages.Keys);
        Assert.Equal(1UL, _book.LostPages);
        Assert.Equal(1, _progress.LostPages);
        Assert.Equal(new AddressRange(Base + (3 * Page), Base + (4 * Page), Base + (3 * Page)), Assert.Single(_book.LostRanges));
        Assert.Equal(0UL, _book.DroppedPages);
        Assert.True(_book.InFlight.IsEmpty);
    }

    [Fact]
    public void An_unexpected_errno_fails_the_task_with_its_address()
    {
        _uffd.Respond = _ => Fail(Errno.EINVAL);
        Queue(2, 1, background: false);
        var failure = Assert.Throws<TaskFailedException>(() => _queue.Run());
        Assert.Equal((Pid, Errno.EINVAL, Base + (2 * Page)), (failure.Pid, failure.Errno, failure.Address));
    }

    [Fact]
    public void Pages_dropped_while_their_data_waited_are_skipped()
    {
        var chunk = Queue(0, 8, background: true);
        _book.Drop(Base + (2 * Page), Base + (6 * Page));
        while (_queue.HasBackgroundJobs)
        {
            _queue.Run();
        }

        Assert.Equal([(Base, 2 * Page), (Base + (6 * Page), 2 * Page)], _uffd.Copies.Select(c => (c.Address, c.Length)));
        Assert.Equal(4, chunk.PagesCopied);
    }

    [Fact]
    public void A_fault_on_queued_data_copies_a_window_from_its_page_at_once()
    {
        var chunk = Queue(0, 12, background: true);
        Assert.Equal(CopyRoundEnd.Copied, _queue.CopyUrgently(Base + (9 * Page)).End);
        Assert.Equal((Base + (9 * Page), 2 * Page), Assert.Single(_uffd.Copies) is var c ? (c.Address, c.Length) : default);
        Assert.Equal(2, chunk.PagesCopied);

        // The chunk's own turns skip what went early; nothing is copied twice.
        while (_queue.HasBackgroundJobs)
        {
            _queue.Run();
        }

        Assert.Equal(12, chunk.PagesCopied);
        Assert.Equal(12, _uffd.Pages.Count);
        Assert.Equal(12, _uffd.Copies.Sum(x => (long)(x.Length / Page)));
        Assert.Equal(CopyRoundEnd.Copied, _queue.CopyUrgently(Base + (14 * Page)).End);
        Assert.Equal(12, _uffd.Pages.Count);
    }

    [Fact]
    public void Following_the_push_front_a_fault_in_the_next_slice_is_left_to_that_slice_and_one_further_on_copies_a_window()
    {
        var queue = new TaskCopyQueue(Pid, "7", _uffd, _book, _progress, Slice, urgentWindowBytes: 2 * Page, NoLogger.Instance);
        var start = Base;
        Assert.Equal(FaultOutcome.Claimed, _book.OnFault(start, 12 * Page).Outcome);
        var chunk = new CopyJob(start, 12, background: true, 12 * Page, Data(_source, Pid, start, 12));
        queue.Add(chunk);

        // Page 3 is in the next slice (pages 0-3): nothing is copied now, the slice serves it.
        Assert.True(queue.NextPieceHolds(Base + (3 * Page)));
        Assert.Equal(CopyRoundEnd.Copied, queue.CopyUrgently(Base + (3 * Page), followingFront: true).End);
        Assert.Empty(_uffd.Copies);
        queue.Run();
        Assert.Equal((Base, Slice), Assert.Single(_uffd.Copies) is var c ? (c.Address, c.Length) : default);

        // Page 9 is beyond the next slice (pages 4-7): an urgent window as before.
        Assert.False(queue.NextPieceHolds(Base + (9 * Page)));
        queue.CopyUrgently(Base + (9 * Page), followingFront: true);
        Assert.Equal((Base + (9 * Page), 2 * Page), (_uffd.Copies[^1].Address, _uffd.Copies[^1].Length));

        // Held back (before "restore finished"), the slice would not come: the fault copies its window.
        queue.HoldBackground = true;
        Assert.False(queue.NextPieceHolds(Base + (4 * Page)));
        queue.HoldBackground = false;

        while (queue.HasBackgroundJobs)
        {
            queue.Run();
        }

        Assert.Equal(12, chunk.PagesCopied);
        Assert.Equal(12, _uffd.Copies.Sum(x => (long)(x.Length / Page)));
        Assert.All(_uffd.Pages, p => Assert.Equal(FakePageSource.PatternByte(Pid, p.Key), p.Value));
    }

    [Fact]
    public void A_fault_in_the_next_slice_while_the_task_is_not_reading_in_order_copies_its_window_at_once()
    {
        var chunk = Queue(0, 12, background: true);

        // Page 2 is in the next slice (pages 0-3), but the fault is random (or the task's first): it does not wait for
        // the slice, it gets its urgent window (pages 2-3) now, as with push-front following off.
        Assert.True(_queue.NextPieceHolds(Base + (2 * Page)));
        Assert.Equal(CopyRoundEnd.Copied, _queue.CopyUrgently(Base + (2 * Page), followingFront: false).End);
        Assert.Equal((Base + (2 * Page), 2 * Page), Assert.Single(_uffd.Copies) is var c ? (c.Address, c.Length) : default);

        while (_queue.HasBackgroundJobs)
        {
            _queue.Run();
        }

        Assert.Equal(12, chunk.PagesCopied);
        Assert.Equal(12, _uffd.Copies.Sum(x => (long)(x.Length / Page)));
        Assert.All(_uffd.Pages, p => Assert.Equal(FakePageSource.PatternByte(Pid, p.Key), p.Value));
    }
}
