using Akka.Event;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Faults;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Scheduling;
using LazyActors.Engine.Uffd;
using Xunit;
using static LazyActors.Engine.Tests.Uffd.NativeTestSupport;

namespace LazyActors.Engine.Tests.Uffd;

/// <summary>
/// The second copier in pieces (second-copier-piece) on a real uffd: the task's thread claims pieces from a slice's
/// start, the helper from its end, until they meet. What must hold: every page copied once and right, the helper's part
/// always whole and copied, a piece the kernel refuses to the helper copied (or refused) by the task's thread, and
/// injected errors losing no page within bounded rounds.
/// </summary>
public sealed class SecondCopierPiecesTests : IDisposable
{
    private const int Pages = 1024; // 4 MiB
    private const ulong Length = (ulong)Pages * PageSize;
    private const ulong SplitSlice = 1024 * 1024;
    private const ulong Piece = 128 * 1024;
    private const int RoundLimit = 2000;

    private readonly MappedRegion _source;
    private readonly MappedRegion _target;
    private readonly UserFaultFd _uffd;
    private readonly SecondCopier _copier = new(piece: Piece);
    private readonly UserFaultFdAdapter _adapter;

    public SecondCopierPiecesTests()
    {
        _source = MappedRegion.Map(Length);
        FillPattern(_source.GetSpan(0, (int)Length), seed: 13);
        _target = MappedRegion.Map(Length);
        _uffd = CreateUffdOrSkip();
        _uffd.Api(UffdFeatures.NonCooperative);
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
    public void The_caller_claims_pieces_from_the_start_the_helper_from_the_end_and_every_page_is_right_once()
    {
        var calls = new System.Collections.Concurrent.ConcurrentQueue<(SplitHalf Half, int Thread, ulong Offset, ulong Length)>();
        var result = _adapter.CopyBulk(_target.Start, _source.Address, SplitSlice, (uffd, half, d, s, l) =>
        {
            calls.Enqueue((half, Environment.CurrentManagedThreadId, d - _target.Start, l));
            // Slow enough that the helper wakes before the caller is through the slice.
            Thread.Sleep(20);
            return uffd.Copy(d, s, l);
        });

        Assert.Equal(new UffdOpResult((long)SplitSlice, Errno.None), result.Combined);
        Assert.Equal((long)(SplitSlice - result.SplitAt), result.Second.Bytes);
        Assert.Equal(1, _copier.Splits);
        var caller = calls.Where(c => c.Half == SplitHalf.First).OrderBy(c => c.Offset).ToList();
        var helper = calls.Where(c => c.Half == SplitHalf.Second).OrderByDescending(c => c.Offset).ToList();
        Assert.NotEmpty(helper);
        Assert.All(caller, c => Assert.Equal(Environment.CurrentManagedThreadId, c.Thread));
        Assert.All(helper, c => Assert.NotEqual(Environment.CurrentManagedThreadId, c.Thread));
        Assert.All(calls, c => Assert.Equal(Piece, c.Length));
        // The caller's pieces tile [0, SplitAt) upwards, the helper's [SplitAt, slice) downwards, nothing twice.
        Assert.Equal(Enumerable.Range(0, caller.Count).Select(i => (ulong)i * Piece), caller.Select(c => c.Offset));
        Assert.Equal(Enumerable.Range(1, helper.Count).Select(i => SplitSlice - ((ulong)i * Piece)), helper.Select(c => c.Offset));
        Assert.Equal(result.SplitAt, (ulong)caller.Count * Piece);
        AssertPagesRight(0, SplitSlice);
        AssertAbsent(SplitSlice, PageSize);
    }

    [SkippableFact]
    public void A_slow_helper_leaves_the_rest_to_the_caller_which_waits_for_one_of_its_pieces_at_most()
    {
        var helperPieces = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = _adapter.CopyBulk(_target.Start, _source.Address, SplitSlice, (uffd, half, d, s, l) =>
        {
            if (half == SplitHalf.Second)
            {
                Interlocked.Increment(ref helperPieces);
                Thread.Sleep(400);
            }
            else
            {
                // The caller's seven pieces take long enough for the helper to wake and take its first.
                Thread.Sleep(20);
            }

            return uffd.Copy(d, s, l);
        });
        watch.Stop();

        Assert.True(result.Combined.IsSuccess);
        // The helper took one piece (it sleeps in it while the caller copies the other seven) and nothing after.
        Assert.Equal(1, helperPieces);
        Assert.Equal(SplitSlice - Piece, result.SplitAt);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"{watch.Elapsed}");
        AssertPagesRight(0, SplitSlice);
    }

    [SkippableFact]
    public void A_piece_the_kernel_refuses_to_the_helper_is_given_back_and_copied_by_the_caller()
    {
        var refused = 0;
        var result = _adapter.CopyBulk(_target.Start, _source.Address, SplitSlice, (uffd, half, d, s, l) =>
        {
            if (half == SplitHalf.Second && Interlocked.Increment(ref refused) == 1)
            {
                return new UffdOpResult(0, Errno.EAGAIN);
            }

            if (half == SplitHalf.First)
            {
                // Slow enough that the helper wakes and takes a piece before the caller is through the slice.
                Thread.Sleep(20);
            }

            return uffd.Copy(d, s, l);
        });

        Assert.Equal(new UffdOpResult((long)SplitSlice, Errno.None), result.Combined);
        Assert.Equal(1, refused);
        AssertPagesRight(0, SplitSlice);
    }

    [SkippableFact]
    public void After_a_caller_error_nobody_claims_more_and_the_helpers_part_is_whole()
    {
        // The helper's first piece waits (bounded) until the caller has met its error on its second piece: otherwise a
        // fast helper on a slow caller claims every piece down to the second first (CI-like run 20: the whole slice
        // copied, no error to test).
        using var callerFailed = new ManualResetEventSlim();
        var result = _adapter.CopyBulk(_target.Start, _source.Address, SplitSlice, (uffd, half, d, s, l) =>
        {
            if (half == SplitHalf.First && d == _target.Start + Piece)
            {
                callerFailed.Set();
                return new UffdOpResult(0, Errno.EFAULT);
            }

            if (half == SplitHalf.Second)
            {
                callerFailed.Wait(TimeSpan.FromSeconds(5));
            }

            return uffd.Copy(d, s, l);
        });

        Assert.Equal(new UffdOpResult((long)Piece, Errno.EFAULT), result.Combined);
        Assert.True(result.SplitAt >= 2 * Piece, $"split at 0x{result.SplitAt:x}");
        Assert.Equal((long)(SplitSlice - result.SplitAt), result.Second.Bytes);
        AssertPagesRight(0, Piece);
        AssertAbsent(Piece, result.SplitAt - Piece); // between the parts: nothing copied
        AssertPagesRight(result.SplitAt, SplitSlice - result.SplitAt);
    }

    [SkippableFact]
    public void Many_slices_in_a_row_each_copy_every_page_once_whether_or_not_the_helper_woke_in_time()
    {
        for (ulong at = 0; at < Length; at += 256 * 1024)
        {
            var result = _adapter.CopyBulk(_target.Start + at, _source.Address + (nint)at, 256 * 1024);
            Assert.Equal(new UffdOpResult(256 * 1024, Errno.None), result.Combined);
        }

        Assert.Equal((long)(Length / (256 * 1024)), _copier.Splits);
        AssertPagesRight(0, Length);
    }

    [SkippableTheory]
    [InlineData("uffd.half1=EAGAIN@1x3")]
    [InlineData("uffd.half2=EAGAIN@1x3")]
    [InlineData("uffd.half1=EEXIST@1")]
    [InlineData("uffd.half2=EEXIST@2")]
    [InlineData("uffd.half1=ENOMEM@2x2")]
    [InlineData("uffd.half2=EFAULT@1")]
    [InlineData("seed=3; uffd.half1=EAGAIN%0.3; uffd.half2=EEXIST%0.3; uffd.half2=EAGAIN%0.2; uffd.copy=EAGAIN%0.1")]
    [InlineData("seed=9; uffd.half1=EEXIST%0.5; uffd.half2=ENOMEM%0.4; uffd.half1=EAGAIN%0.2")]
    public void Injected_errors_in_either_part_lose_no_page_and_write_no_wrong_one_within_bounded_rounds(string plan)
    {
        var book = new TaskRangeBook();
        book.AddLazy(_target.Start, _target.Start + Length, _target.Start);
        Assert.True(book.TryClaimBackground(Length, out _));
        var progress = new TaskProgress(1, "1", Pages, isForkChild: false);
        var faults = new FaultInjector(FaultPlan.Parse(plan));
        var queue = new TaskCopyQueue(1, "1", new FaultyUffd(_adapter, faults), book, progress, sliceBytes: 512 * 1024,
            urgentWindowBytes: 64 * 1024, NoLogger.Instance, splitSliceBytes: SplitSlice)
        {
            SplitBackground = true,
        };
        var data = new PageData(_target.Start, Pages, [new SharedPageRead(new PageRead([new PageSegment(_target.Start, Pages, _source.Address)], null))]);
        queue.Add(new CopyJob(_target.Start, Pages, background: true, Length, data));

        var rounds = 0;
        while (!queue.IsEmpty && rounds < RoundLimit)
        {
            rounds++;
            Assert.NotEqual(CopyRoundEnd.TaskGone, queue.Run().End);
        }

        // An injected error costs a round (EAGAIN/ENOMEM) or a page walked as EEXIST; a given-back piece's pages the
        // helper did copy come back as EEXIST once each (at most a piece per injected helper error).
        Assert.True(rounds <= (int)(Length / SplitSlice) + 1 + faults.TotalInjected, $"{rounds} rounds, {faults.TotalInjected} faults injected");
        Assert.True(queue.IsEmpty);
        Assert.True(book.IsComplete, book.ToString());
        Assert.Equal(0UL, book.LostPages);
        Assert.Equal((ulong)Pages, book.CopiedPages);
        AssertPagesRight(0, Length);
    }

    [Fact]
    public void A_piece_size_must_be_whole_pages_and_halves_mode_refuses_pieces()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SecondCopier(piece: PageSize + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SecondCopier(piece: SecondCopier.MaxPieceBytes + PageSize));
        using var halves = new SecondCopier();
        Assert.Equal(0UL, halves.PieceBytes);
        Assert.True(halves.TryBegin());
        Assert.Throws<InvalidOperationException>(() => halves.CopyFromBothEnds(_uffd, (_, _, _, _, _) => default, 0, 0, SplitSlice));
    }

    /// <summary>Every page of [offset, offset+length) is present (ZEROPAGE says EEXIST) and holds the source's bytes.</summary>
    private void AssertPagesRight(ulong offset, ulong length)
    {
        for (var at = offset; at < offset + length; at += PageSize)
        {
            Assert.Equal(Errno.EEXIST, _uffd.ZeroPage(_target.Start + at, PageSize).Error);
        }

        Assert.True(_source.GetSpan(offset, (int)length).SequenceEqual(_target.GetSpan(offset, (int)length)),
            $"target bytes differ from the source in [0x{offset:x}, 0x{offset + length:x})");
    }

    /// <summary>No page of the range is present: ZEROPAGE of each succeeds (and makes it a zero page).</summary>
    private void AssertAbsent(ulong offset, ulong length)
    {
        for (var at = offset; at < offset + length; at += PageSize)
        {
            Assert.True(_uffd.ZeroPage(_target.Start + at, PageSize).IsSuccess, $"page 0x{at:x} is present");
        }
    }
}
