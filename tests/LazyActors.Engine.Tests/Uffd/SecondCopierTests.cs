using Akka.Event;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Faults;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Restorer;
using LazyActors.Engine.Scheduling;
using LazyActors.Engine.Uffd;
using Xunit;
using static LazyActors.Engine.Tests.Uffd.NativeTestSupport;

namespace LazyActors.Engine.Tests.Uffd;

/// <summary>
/// The second copier on a real uffd: a background slice copied in two halves at once inside one hold of the gate,
/// with the fault seam failing either half (EAGAIN, EEXIST, ENOMEM, EFAULT, ESRCH) and a REMOVE event raised while both
/// halves copy. What must hold every time: no page lost, no page wrong, no copy landing after the remove, and a bounded
/// number of rounds.
/// </summary>
public sealed class SecondCopierTests : IDisposable
{
    private const int Pages = 1024; // 4 MiB: one background chunk of chunk-max
    private const ulong Length = (ulong)Pages * PageSize;
    private const ulong SplitSlice = 1024 * 1024;
    private const int RoundLimit = 2000; // a loop bound only; each test asserts its own, tighter one

    private readonly MappedRegion _source;
    private readonly MappedRegion _target;
    private readonly UserFaultFd _uffd;
    private readonly SecondCopier _copier = new();
    private readonly UserFaultFdAdapter _adapter;
    private readonly ulong _granted;

    public SecondCopierTests()
    {
        _source = MappedRegion.Map(Length);
        FillPattern(_source.GetSpan(0, (int)Length), seed: 11);
        _target = MappedRegion.Map(Length);
        _uffd = CreateUffdOrSkip();
        _granted = _uffd.Api(UffdFeatures.NonCooperative);
        _uffd.Register(_target.Start, Length, RegisterMode.Missing);
        _adapter = new UserFaultFdAdapter(_uffd.Handle, GatePriority.Off, reportsMemoryChanges: true, _copier);
    }

    public void Dispose()
    {
        _adapter.Dispose();
        _copier.Dispose();
        _target.Dispose();
        _source.Dispose();
    }

    [SkippableFact]
    public void A_large_slice_is_copied_in_two_halves_on_two_threads_and_every_page_is_right()
    {
        var threads = new System.Collections.Concurrent.ConcurrentDictionary<SplitHalf, int>();
        var result = _adapter.CopyBulk(_target.Start, _source.Address, SplitSlice, (uffd, half, destination, source, length) =>
        {
            threads[half] = Environment.CurrentManagedThreadId;
            return uffd.Copy(destination, source, length);
        });

        Assert.Equal(new UffdOpResult((long)SplitSlice, Errno.None), result.Combined);
        Assert.Equal((SplitSlice / 2, (long)SplitSlice / 2), (result.SplitAt, result.Second.Bytes));
        Assert.Equal(1, _copier.Splits);
        Assert.Equal(Environment.CurrentManagedThreadId, threads[SplitHalf.First]);
        Assert.NotEqual(threads[SplitHalf.First], threads[SplitHalf.Second]);
        AssertPagesRight(0, SplitSlice);
        AssertAbsent(SplitSlice, PageSize); // nothing beyond the slice
    }

    [SkippableFact]
    public void A_small_slice_or_a_busy_helper_copies_the_whole_slice_on_the_callers_thread()
    {
        const ulong small = SecondCopier.MinSplitBytes - PageSize;
        var whole = _adapter.CopyBulk(_target.Start, _source.Address, small);
        Assert.Equal((new UffdOpResult((long)small, Errno.None), small), (whole.Combined, whole.SplitAt));
        Assert.Equal(0, _copier.Splits);

        Assert.True(_copier.TryBegin()); // another task's slice holds the helper
        try
        {
            Assert.True(_adapter.CopyBulk(_target.Start + small, _source.Address + (nint)small, SplitSlice).Combined.IsSuccess);
        }
        finally
        {
            _copier.Start(_uffd, (_, _, _, _, _) => new UffdOpResult(0, Errno.None), 0, 0, 0);
            _copier.Finish();
        }

        Assert.Equal(1, _copier.Splits); // only the hand-back above
        AssertPagesRight(0, small + SplitSlice);
    }

    [SkippableFact]
    public void A_copy_is_refused_with_EAGAIN_while_an_event_is_unapplied_and_neither_half_runs()
    {
        _adapter.Barrier.EventsRead(1);
        var halves = 0;
        var refused = _adapter.CopyBulk(_target.Start, _source.Address, SplitSlice, (uffd, _, d, s, l) =>
        {
            Interlocked.Increment(ref halves);
            return uffd.Copy(d, s, l);
        });
        Assert.Equal(new UffdOpResult(0, Errno.EAGAIN), refused.Combined);
        Assert.Equal(0, halves);

        _adapter.EventsHandled(1);
        Assert.True(_adapter.CopyBulk(_target.Start, _source.Address, SplitSlice).Combined.IsSuccess);
        AssertPagesRight(0, SplitSlice);
        AssertAbsent(SplitSlice, SplitSlice); // the refused copy left nothing behind
    }

    [SkippableTheory]
    [InlineData("uffd.half1=EAGAIN@1x3")]
    [InlineData("uffd.half2=EAGAIN@1x3")]
    [InlineData("uffd.half1=EEXIST@1")]
    [InlineData("uffd.half2=EEXIST@2")]
    [InlineData("uffd.half1=ENOMEM@2x2")]
    [InlineData("uffd.half2=ENOMEM@1x2")]
    [InlineData("uffd.half1=EAGAIN@1; uffd.half2=EAGAIN@1")]
    [InlineData("seed=3; uffd.half1=EAGAIN%0.3; uffd.half2=EEXIST%0.3; uffd.half2=EAGAIN%0.2; uffd.copy=EAGAIN%0.1")]
    [InlineData("seed=9; uffd.half1=EEXIST%0.5; uffd.half2=ENOMEM%0.4; uffd.half1=EAGAIN%0.2")]
    public void A_failing_half_loses_no_page_and_writes_no_wrong_one_within_bounded_rounds(string plan)
    {
        var (queue, book, progress, faults) = Queue(plan);

        var rounds = RunToEnd(queue);

        // A round ends early only for an injected EAGAIN/ENOMEM; otherwise it moves a whole slice (EEXIST costs one page).
        Assert.True(rounds <= (Pages * PageSize / (int)SplitSlice) + 1 + faults.TotalInjected, $"{rounds} rounds, {faults.TotalInjected} faults injected");
        Assert.True(queue.IsEmpty);
        Assert.True(book.IsComplete, book.ToString());
        Assert.Equal(0UL, book.LostPages);
        Assert.Equal((ulong)Pages, book.CopiedPages);
        // Only a page an injected EEXIST left behind is counted as found rather than copied: the upper half copied while
        // the lower one failed is not walked again page by page as EEXIST.
        Assert.InRange(progress.CopiedByPusher, Pages - faults.TotalInjected, Pages);
        Assert.True(_copier.Splits > 0);
        AssertPagesRight(0, Length);
    }

    [SkippableTheory]
    [InlineData("uffd.half1=EFAULT@2", SplitHalf.First)]
    [InlineData("uffd.half2=EFAULT@2", SplitHalf.Second)]
    public void An_unexpected_errno_in_either_half_fails_the_task_and_what_was_copied_is_right(string plan, SplitHalf half)
    {
        var (queue, book, _, _) = Queue(plan);

        var failure = Assert.Throws<TaskFailedException>(() => RunToEnd(queue));

        Assert.Contains("EFAULT", failure.Message, StringComparison.Ordinal);
        Assert.Equal(0UL, book.LostPages);
        // The first slice was copied whole; the second failed in one half: its other half may be there too, and right.
        AssertPagesRight(0, SplitSlice);
        var failedHalf = SplitSlice + (half == SplitHalf.First ? 0 : SplitSlice / 2);
        var otherHalf = SplitSlice + (half == SplitHalf.First ? SplitSlice / 2 : 0);
        AssertPresentPagesRight(otherHalf, SplitSlice / 2);
        AssertAbsent(failedHalf, SplitSlice / 2);
    }

    [SkippableFact]
    public void ESRCH_in_a_half_ends_the_task_as_gone()
    {
        var (queue, _, _, _) = Queue("uffd.half2=ESRCH@1");
        var round = queue.Run();
        Assert.Equal(CopyRoundEnd.TaskGone, round.End);
        Assert.Contains("ESRCH", round.GoneReason, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void A_remove_raised_while_both_halves_copy_is_applied_before_any_later_copy_and_no_copy_lands_after_it()
    {
        Skip.If((_granted & UffdFeatures.EventRemove) == 0, "The kernel does not grant UFFD_FEATURE_EVENT_REMOVE.");
        var (queue, book, _, _) = Queue("uffd.half2-delay=1500@1");
        var events = new List<UffdMsg>();
        var barrier = _adapter.Barrier;
        barrier.AttachReader(() =>
        {
            Span<UffdMsg> buffer = stackalloc UffdMsg[8];
            var n = _uffd.ReadMessages(buffer);
            var count = 0;
            for (var i = 0; i < n; i++)
            {
                lock (events)
                {
                    events.Add(buffer[i]);
                }

                count += buffer[i].Event == UffdEvent.Pagefault ? 0 : 1;
            }

            barrier.EventsRead(count);
        });

        // The upper quarter of the first slice: the helper's half, which sleeps inside the gate before its ioctl.
        var removeStart = (3 * SplitSlice) / 4;
        CopyRound first = default;
        var copier = new Thread(() => first = queue.Run()) { IsBackground = true };
        copier.Start();
        Thread.Sleep(250);
        var advisor = new Thread(() => _target.Madvise(MadviseAdvice.MADV_DONTNEED, removeStart, SplitSlice - removeStart)) { IsBackground = true };
        advisor.Start();

        // The epoll reader's part: the uffd becomes readable; the copier holding the gate performs the read as it leaves.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!barrier.HasUnhandledEvents && DateTime.UtcNow < deadline)
        {
            if (UnixSocket.WaitReadable(_uffd.Handle, TimeSpan.FromMilliseconds(20)))
            {
                barrier.RequestRead();
            }
        }

        Assert.True(copier.Join(TimeSpan.FromSeconds(10)));
        Assert.True(advisor.Join(TimeSpan.FromSeconds(10)), "madvise(DONTNEED) was not released after its REMOVE was read");
        var remove = Assert.Single(events, e => e.Event == UffdEvent.Remove);
        Assert.Equal((_target.Start + removeStart, _target.Start + SplitSlice), (remove.RemoveStart, remove.RemoveEnd));
        // Raised before the helper's ioctl: that half was refused (the kernel's mmap_changing), so the round is blocked.
        Assert.Equal(CopyRoundEnd.Blocked, first.End);

        // Still unapplied: every copy is refused, on either thread.
        Assert.Equal(CopyRoundEnd.Blocked, queue.Run().End);

        // The owner applies it (REMOVE drops the range from the book), then the push goes on.
        book.Drop(remove.RemoveStart, remove.RemoveEnd);
        _adapter.EventsHandled(1);
        var rounds = RunToEnd(queue);

        Assert.True(rounds <= Pages * PageSize / (int)SplitSlice, $"{rounds} rounds");
        Assert.True(book.IsComplete, book.ToString());
        Assert.Equal(0UL, book.LostPages);
        AssertAbsent(removeStart, SplitSlice - removeStart); // no copy landed after the remove: a read there gives zeros
        AssertPagesRight(0, removeStart);
        AssertPagesRight(SplitSlice, Length - SplitSlice);
    }

    [SkippableTheory]
    [InlineData(0UL)]
    [InlineData(64UL * 1024)]
    [InlineData(1024UL * 1024)]
    [InlineData(1536UL * 1024)]
    public void Split_pieces_of_2_MiB_are_centred_on_page_table_boundaries_and_every_page_is_right(ulong offset)
    {
        // Two halves inside one 2 MiB span install their pages under one page-table lock; centred on a span boundary
        // they never share it.
        const ulong slice = TaskCopyQueue.PageTableSpan;
        var start = _target.Start + offset;
        var length = Length - offset;
        var book = new TaskRangeBook();
        book.AddLazy(start, start + length, start);
        Assert.True(book.TryClaimBackground(length, out _));
        var pieces = new List<(ulong Destination, ulong Length)>();
        var uffd = new RecordingUffd(_adapter, pieces);
        var queue = new TaskCopyQueue(1, "1", uffd, book, new TaskProgress(1, "1", (long)(length / PageSize), isForkChild: false),
            sliceBytes: 512 * 1024, urgentWindowBytes: 64 * 1024, NoLogger.Instance, splitSliceBytes: slice)
        {
            SplitBackground = true,
        };
        var pages = (int)(length / PageSize);
        var data = new PageData(start, pages, [new SharedPageRead(new PageRead([new PageSegment(start, pages, _source.Address + (nint)offset)], null))]);
        queue.Add(new CopyJob(start, pages, background: true, length, data));

        var rounds = RunToEnd(queue);

        Assert.True(book.IsComplete, book.ToString());
        AssertPagesRight(offset, length);
        Assert.True(rounds <= (int)(length / slice) + 2, $"{rounds} rounds: {string.Join(", ", pieces.Select(p => $"0x{p.Destination:x}+0x{p.Length:x}"))}");
        Assert.Equal(length, pieces.Aggregate(0UL, (sum, p) => sum + p.Length));
        Assert.All(pieces, p => Assert.True(p.Length <= slice, $"a piece of {p.Length} bytes"));
        // Every whole piece is centred on a boundary; the rest are lead-ins to one and the piece the chunk's end cuts short.
        var whole = pieces.Where(p => p.Length == slice).ToList();
        var firstCentrable = ((start + (slice / 2)) + TaskCopyQueue.PageTableSpan - 1) / TaskCopyQueue.PageTableSpan * TaskCopyQueue.PageTableSpan;
        Assert.Equal(firstCentrable + (slice / 2) <= start + length, whole.Count > 0);
        Assert.All(whole, p => Assert.Equal(0UL, (p.Destination + (slice / 2)) % TaskCopyQueue.PageTableSpan));
    }

    [SkippableTheory]
    [InlineData(SplitHalf.Second)]
    [InlineData(SplitHalf.First)]
    public void Balancing_moves_the_split_towards_the_half_that_finishes_last_and_every_page_is_right(SplitHalf slow)
    {
        // The slow half sleeps before its ioctl: with balancing on, its side gets less of each following slice, within the
        // bounds, and the halves still cover every page exactly once.
        using var copier = new SecondCopier(GatePriority.Off, nice: null, balance: true);
        using var adapter = new UserFaultFdAdapter(_uffd.Handle, GatePriority.Off, reportsMemoryChanges: true, copier);
        var splits = new List<ulong>();
        for (ulong at = 0; at < Length; at += SplitSlice)
        {
            var result = adapter.CopyBulk(_target.Start + at, _source.Address + (nint)at, SplitSlice, (uffd, half, d, s, l) =>
            {
                if (half == slow)
                {
                    Thread.Sleep(50);
                }

                return uffd.Copy(d, s, l);
            });
            Assert.Equal(new UffdOpResult((long)SplitSlice, Errno.None), result.Combined);
            splits.Add(result.SplitAt);
        }

        Assert.Equal(SplitSlice / 2, splits[0]);
        Assert.Equal(Length / SplitSlice, (ulong)copier.Splits);
        var step = SplitSlice / SecondCopier.ShareUnits;
        var expected = Enumerable.Range(0, splits.Count)
            .Select(i => slow == SplitHalf.Second ? (SplitSlice / 2) + (step * (ulong)i) : (SplitSlice / 2) - (step * (ulong)i));
        Assert.Equal(expected, splits); // one step per split, towards the fast side
        Assert.Equal(slow == SplitHalf.Second ? copier.Splits : 0, copier.Waits);
        AssertPagesRight(0, Length);
    }

    [Fact]
    public void The_split_point_is_in_the_middle_without_balancing_and_within_its_bounds_with_it()
    {
        using var even = new SecondCopier();
        Assert.Equal(512UL * 1024, even.SplitPoint(1024 * 1024));
        Assert.Equal(128UL * 1024, even.SplitPoint((256 * 1024) + PageSize)); // page aligned, rounded down
        Assert.Equal((ulong)PageSize, even.SplitPoint(2 * PageSize)); // at least one page each side

        using var balancing = new SecondCopier(balance: true);
        for (var i = 0; i < 2 * SecondCopier.ShareUnits; i++)
        {
            // The helper's half is done before the caller asks (no wait): the caller's part shrinks, to its floor.
            Assert.True(balancing.TryBegin());
            balancing.Start(_uffd, (_, _, _, _, _) => new UffdOpResult(0, Errno.None), 0, 0, 0);
            Assert.True(SpinWait.SpinUntil(() => balancing.HelperDone, TimeSpan.FromSeconds(10)));
            balancing.Finish();
        }

        Assert.Equal(SecondCopier.MinCallerShare, balancing.CallerShare);
        Assert.Equal(256UL * 1024, balancing.SplitPoint(1024 * 1024));
    }

    [Theory]
    [InlineData(0x0UL, 0x200000UL, 0x100000UL)]        // at a boundary: a lead-in up to where a centred piece starts
    [InlineData(0x100000UL, 0x200000UL, 0x200000UL)]   // 1 MiB before one: the whole piece, centred on it
    [InlineData(0x1C0000UL, 0x200000UL, 0x80000UL)]    // 256 KiB before one: a short piece centred on it
    [InlineData(0x180000UL, 0x40000UL, 0x40000UL)]     // never longer than what is there
    [InlineData(0x10000UL, 0x200000UL, 0xF0000UL)]     // just past a boundary: the lead-in
    public void SplitPiece_centres_a_piece_on_the_next_page_table_boundary(ulong start, ulong length, ulong expected) =>
        Assert.Equal(expected, TaskCopyQueue.SplitPiece(start, length, TaskCopyQueue.PageTableSpan));

    /// <summary>Records the pieces a queue hands to <see cref="IUffd.CopyBulk"/>, then copies them for real.</summary>
    private sealed class RecordingUffd(UserFaultFdAdapter inner, List<(ulong Destination, ulong Length)> pieces) : IUffd
    {
        public SafeFdHandle? Handle => inner.Handle;

        public UffdOpResult Copy(ulong destination, nint source, ulong length) => inner.Copy(destination, source, length);

        public BulkCopyResult CopyBulk(ulong destination, nint source, ulong length)
        {
            pieces.Add((destination, length));
            return inner.CopyBulk(destination, source, length);
        }

        public UffdOpResult ZeroPage(ulong start, ulong length) => inner.ZeroPage(start, length);

        public Errno Unregister(ulong start, ulong length) => inner.Unregister(start, length);

        public void Dispose()
        {
        }
    }

    private (TaskCopyQueue Queue, TaskRangeBook Book, TaskProgress Progress, FaultInjector Faults) Queue(string plan)
    {
        var book = new TaskRangeBook();
        book.AddLazy(_target.Start, _target.Start + Length, _target.Start);
        Assert.True(book.TryClaimBackground(Length, out var claimed));
        Assert.Equal(Length, claimed.Length);
        var progress = new TaskProgress(1, "1", Pages, isForkChild: false);
        var faults = new FaultInjector(FaultPlan.Parse(plan));
        var uffd = new FaultyUffd(_adapter, faults);
        var queue = new TaskCopyQueue(1, "1", uffd, book, progress, sliceBytes: 512 * 1024, urgentWindowBytes: 64 * 1024,
            NoLogger.Instance, splitSliceBytes: SplitSlice)
        {
            SplitBackground = true,
        };
        var data = new PageData(_target.Start, Pages, [new SharedPageRead(new PageRead([new PageSegment(_target.Start, Pages, _source.Address)], null))]);
        queue.Add(new CopyJob(_target.Start, Pages, background: true, Length, data));
        return (queue, book, progress, faults);
    }

    private static int RunToEnd(TaskCopyQueue queue)
    {
        var rounds = 0;
        while (!queue.IsEmpty && rounds < RoundLimit)
        {
            rounds++;
            var round = queue.Run();
            Assert.NotEqual(CopyRoundEnd.TaskGone, round.End);
        }

        return rounds;
    }

    /// <summary>Every page of [offset, offset+length) is present (ZEROPAGE says EEXIST) and holds the source's bytes.
    /// Presence is checked first: reading a missing page would block on the uffd nobody serves.</summary>
    private void AssertPagesRight(ulong offset, ulong length)
    {
        for (var at = offset; at < offset + length; at += PageSize)
        {
            Assert.Equal(Errno.EEXIST, _uffd.ZeroPage(_target.Start + at, PageSize).Error);
        }

        Assert.True(_source.GetSpan(offset, (int)length).SequenceEqual(_target.GetSpan(offset, (int)length)),
            $"target bytes differ from the source in [0x{offset:x}, 0x{offset + length:x})");
    }

    /// <summary>The pages of the range that are present hold the source's bytes (the absent ones are left absent).</summary>
    private void AssertPresentPagesRight(ulong offset, ulong length)
    {
        for (var at = offset; at < offset + length; at += PageSize)
        {
            if (IsPresent(at))
            {
                Assert.True(_source.GetSpan(at, PageSize).SequenceEqual(_target.GetSpan(at, PageSize)), $"page 0x{at:x} is wrong");
            }
        }
    }

    /// <summary>No page of the range is present: ZEROPAGE of each succeeds (and makes it a zero page).</summary>
    private void AssertAbsent(ulong offset, ulong length)
    {
        for (var at = offset; at < offset + length; at += PageSize)
        {
            Assert.True(_uffd.ZeroPage(_target.Start + at, PageSize).IsSuccess, $"page 0x{at:x} is present");
        }
    }

    // Without touching it (a read would fault on the uffd nobody serves): ZEROPAGE says EEXIST for a present page, and
    // makes an absent one a zero page, which the callers do not look at again.
    private bool IsPresent(ulong offset) => _uffd.ZeroPage(_target.Start + offset, PageSize).Error == Errno.EEXIST;
}
