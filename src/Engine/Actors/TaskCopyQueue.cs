using Akka.Event;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Actors;

/// <summary>
/// The copies waiting to go into one task's uffd and the errno rules of spec §2.5 for them. Fault jobs run to
/// completion as soon as they can; background jobs go one slice (copy-slice bytes) per <see cref="Run"/>, so that the
/// owner handles its mailbox, and with it new faults, between slices. Pages no longer in flight when their turn comes
/// (dropped by REMOVE/UNMAP, or copied early for a fault) are skipped. Single-threaded: owned by the task's actor.
/// </summary>
internal sealed class TaskCopyQueue
{
    private readonly int _pid;
    private readonly string _label;
    private readonly IUffd _uffd;
    private readonly TaskRangeBook _book;
    private readonly TaskProgress _progress;
    private readonly ulong _sliceBytes;
    private readonly ulong _urgentWindowBytes;
    private readonly ILoggingAdapter _log;
    private readonly VmaBoundaries _boundaries;
    private readonly Queue<CopyJob> _faultJobs = new();
    private readonly Queue<CopyJob> _backgroundJobs = new();
    private readonly ulong _splitSliceBytes;

    public TaskCopyQueue(int pid, string label, IUffd uffd, TaskRangeBook book, TaskProgress progress, ulong sliceBytes,
        ulong urgentWindowBytes, ILoggingAdapter log, VmaBoundaries? boundaries = null, ulong splitSliceBytes = 0)
    {
        _splitSliceBytes = splitSliceBytes;
        _pid = pid;
        _label = label;
        _uffd = uffd;
        _book = book;
        _progress = progress;
        _sliceBytes = sliceBytes;
        _urgentWindowBytes = urgentWindowBytes;
        _log = log;
        _boundaries = boundaries ?? VmaBoundaries.None;
    }

    public bool IsEmpty => _faultJobs.Count == 0 && _backgroundJobs.Count == 0;

    /// <summary>True while a background job still has slices to copy.</summary>
    public bool HasBackgroundJobs => _backgroundJobs.Count > 0;

    /// <summary>
    /// Set by the pusher's last chunk: the tree has fewer tasks than CPUs, so background slices are second-copier-slice
    /// long and go through <see cref="IUffd.CopyBulk"/>, which may copy them in two halves at once. Faults and urgent
    /// windows never split (they are small, and must not wait for a hand-over).
    /// </summary>
    public bool SplitBackground { get; set; }

    /// <summary>
    /// While set, <see cref="Run"/> copies fault jobs only: background data fetched before "restore finished" waits in
    /// its buffers until the restorer has put the task's memory where it stays.
    /// </summary>
    public bool HoldBackground { get; set; }

    public void Add(CopyJob job) => (job.Background ? _backgroundJobs : _faultJobs).Enqueue(job);

    /// <summary>
    /// Copies every fault job, then one slice of the first background job. Stops at the first job the uffd refuses
    /// with EAGAIN (it stays first, with one more retry counted) or when the task is gone.
    /// </summary>
    /// <exception cref="TaskFailedException">An errno the rules do not expect.</exception>
    public CopyRound Run()
    {
        while (_faultJobs.TryPeek(out var job))
        {
            var step = Advance(job, ulong.MaxValue);
            if (step.End != CopyRoundEnd.Copied)
            {
                return step;
            }

            _faultJobs.Dequeue();
            if (job.FaultTimestamp != 0)
            {
                _progress.RecordFaultServed(job.FaultTimestamp);
            }

            job.Data.Dispose();
        }

        if (HoldBackground || !_backgroundJobs.TryPeek(out var background))
        {
            return CopyRound.Copied(null);
        }

        var split = SplitBackground && _splitSliceBytes > 0;
        var slice = Advance(background, split ? _splitSliceBytes : _sliceBytes, split);
        if (slice.End != CopyRoundEnd.Copied || !background.IsDone)
        {
            return slice;
        }

        _backgroundJobs.Dequeue();
        background.Data.Dispose();
        return CopyRound.Copied(background);
    }

    /// <summary>
    /// A fault hit a page in flight: if its data is already here (a job holds it), copies a small window from that page
    /// at once instead of waiting for the job's turn. EAGAIN leaves it to the job.
    /// </summary>
    /// <param name="dumpPage">The fault's page (dump address).</param>
    /// <param name="followingFront">Push-front following: the task reads in order at the push front
    /// (<see cref="FaultLocality.FollowingFront"/>), so a fault on a page that the next background piece (<see cref="Run"/>'s
    /// next slice of the first background job) copies anyway is left to that piece: the owner runs a turn after every
    /// batch of faults, so the fault waits for one piece, copied by both copiers when split, instead of an urgent window
    /// being copied on one thread first and the piece after it; such a task then faults about once per piece. A random
    /// fault (or a task's first) never waits for a piece: there the piece is up to second-copier-slice long and the fault
    /// would wait for all of it (docs/benchmarks.md, follow40).</param>
    /// <exception cref="TaskFailedException">An errno the rules do not expect.</exception>
    public CopyRound CopyUrgently(ulong dumpPage, bool followingFront = false)
    {
        if (followingFront && NextPieceHolds(dumpPage))
        {
            return CopyRound.Copied(null);
        }

        foreach (var job in _faultJobs)
        {
            if (Holds(job, dumpPage))
            {
                return CopyWindow(job, dumpPage);
            }
        }

        foreach (var job in _backgroundJobs)
        {
            if (Holds(job, dumpPage))
            {
                return CopyWindow(job, dumpPage);
            }
        }

        return CopyRound.Copied(null);
    }

    /// <summary>True when <see cref="Run"/>'s next background slice starts at or before <paramref name="dumpPage"/> and
    /// reaches past it (fault jobs run before it; nothing holds the background back).</summary>
    internal bool NextPieceHolds(ulong dumpPage)
    {
        if (HoldBackground || !_backgroundJobs.TryPeek(out var job) || dumpPage < job.Cursor || dumpPage >= job.End)
        {
            return false;
        }

        var split = SplitBackground && _splitSliceBytes > 0;
        var piece = split ? _splitSliceBytes : _sliceBytes;
        if (split && _splitSliceBytes >= PageTableSpan)
        {
            // Centred pieces follow the current address, which is the dump address unless the task moved its memory;
            // a piece cut shorter than that only makes the fault wait for the piece after it.
            piece = SplitPiece(job.Cursor, job.End - job.Cursor, _splitSliceBytes);
        }

        return dumpPage - job.Cursor < piece;
    }

    /// <summary>Gives every job's data back (the task ended).</summary>
    public void ReleaseAll()
    {
        foreach (var job in _faultJobs)
        {
            job.Data.Dispose();
        }

        foreach (var job in _backgroundJobs)
        {
            job.Data.Dispose();
        }

        _faultJobs.Clear();
        _backgroundJobs.Clear();
    }

    private static bool Holds(CopyJob job, ulong dumpPage) => dumpPage >= job.Cursor && dumpPage < job.End;

    private CopyRound CopyWindow(CopyJob job, ulong dumpPage)
    {
        var cursor = dumpPage;
        var end = Math.Min(job.End, dumpPage + _urgentWindowBytes);
        long pages = 0;
        var step = CopyRange(job, ref cursor, end, ulong.MaxValue, ref pages, background: false);
        job.PagesCopied += pages;
        return step.End == CopyRoundEnd.Blocked ? CopyRound.Copied(null) : step;
    }

    /// <summary>Copies up to <paramref name="budget"/> bytes of the job from its cursor.</summary>
    private CopyRound Advance(CopyJob job, ulong budget, bool split = false)
    {
        var before = job.Cursor;
        var cursor = job.Cursor;
        var pages = job.PagesCopied;
        var step = CopyRange(job, ref cursor, job.End, budget, ref pages, job.Background, split);
        job.Cursor = cursor;
        job.PagesCopied = pages;
        if (job.Cursor > before)
        {
            job.Retries = 0;
        }

        if (step.End == CopyRoundEnd.Blocked)
        {
            job.Retries++;
            return CopyRound.Blocked(job);
        }

        return step;
    }

    /// <summary>
    /// Copies the in-flight pages of dump range [cursor, end) from the job's data, at most <paramref name="budget"/>
    /// bytes, never across a dump-time VMA boundary, applying the errno rules: ESRCH/ENOSPC = task gone; EAGAIN (and ENOMEM) = stop
    /// here and retry later (the copied part is kept); EEXIST = page already there; ENOENT = no registered VMA holds the
    /// whole copy: a longer copy is retried in halves (the task may have split a VMA, e.g. with mprotect) until the one
    /// page that is refused alone, which alone is given up (see <see cref="GiveUpUnregisteredPage"/>); anything else
    /// fails the task. <paramref name="background"/>: nobody waits for these pages (a background job's slice, not an
    /// urgent window), so the copy may be scheduled below the fault path's (<see cref="IUffd.CopyBackground"/>).
    /// </summary>
    private CopyRound CopyRange(CopyJob job, ref ulong cursor, ulong end, ulong budget, ref long pagesCopied, bool background, bool split = false)
    {
        var data = job.Data;
        var enoentLimit = ulong.MaxValue;
        while (cursor < end && budget > 0)
        {
            if (!_book.TryLocateInFlight(cursor, Math.Min(end - cursor, budget), out var current))
            {
                cursor += PageGeometry.PageSize;
                continue;
            }

            if (!data.TryLocate(cursor, out var source, out var available))
            {
                throw new InvalidOperationException($"page data 0x{data.DumpAddress:x}+{data.Pages}p does not hold dump address 0x{cursor:x}");
            }

            var length = Math.Min(Math.Min(current.Length, available), _boundaries.Clamp(current.DumpStart, enoentLimit));
            UffdOpResult result;
            try
            {
                result = CopyOnce(job, current, source, ref length, ref budget, ref pagesCopied, background, split);
            }
            catch (Exception ex) when (ReadFailureOf(ex) is { } failure)
            {
                // local-bulk-read = pread: the pages file could not be read (a cut file, an I/O error); those pages have
                // no data, and the task fails naming the file rather than being given anything else.
                throw new TaskFailedException(_pid, $"cannot read the data of 0x{current.Start:x}+0x{length:x} (dump address 0x{current.DumpStart:x}): {failure.Message}",
                    Errno.EIO, current.Start, ex);
            }

            var done = result.IsSuccess ? length : PageGeometry.AlignDown((ulong)Math.Max(0, result.Bytes));
            if (done > 0)
            {
                var copied = (long)_book.Complete(new AddressRange(current.Start, current.Start + done, current.DumpStart), done);
                _progress.AddCopied(copied, job.Background);
                pagesCopied += copied;
                cursor += done;
                budget -= Math.Min(budget, done);
                enoentLimit = ulong.MaxValue;
            }

            if (result.IsSuccess)
            {
                continue;
            }

            var at = current.Start + done;
            switch (result.Error)
            {
                case Errno.ESRCH or Errno.ENOSPC:
                    return CopyRound.TaskGone($"UFFDIO_COPY at 0x{at:x}: {result.Error}");
                case Errno.EAGAIN or Errno.ENOMEM:
                    // ENOMEM: the kernel could not allocate the page now; like EAGAIN, retried with backoff, bounded.
                    return CopyRound.Blocked(job);
                case Errno.EEXIST:
                    // The page is already there (a racing fault was served by the kernel, or a fork child's COW copy).
                    _log.Debug("{Task}: UFFDIO_COPY at 0x{Address:x}: EEXIST, page already present", _label, at);
                    _book.Complete(new AddressRange(at, at + PageGeometry.PageSize, current.DumpStart + done), PageGeometry.PageSize);
                    cursor += PageGeometry.PageSize;
                    break;
                case Errno.ENOENT when length - done > PageGeometry.PageSize:
                    enoentLimit = Math.Max(PageGeometry.PageSize, PageGeometry.AlignDown((length - done) / 2));
                    break;
                case Errno.ENOENT:
                    GiveUpUnregisteredPage(at, current.DumpStart + done);
                    cursor += PageGeometry.PageSize;
                    enoentLimit = PageGeometry.PageSize;
                    break;
                default:
                    throw new TaskFailedException(_pid, $"UFFDIO_COPY of {length - done} bytes at 0x{at:x} failed: {result.Error}", result.Error, at);
            }
        }

        return CopyRound.Copied(null);
    }

    /// <summary>One UFFDIO_COPY of [current.Start, +length) from <paramref name="source"/>: split across the second copier
    /// (a split-mode piece may shorten <paramref name="length"/> and the turn's <paramref name="budget"/>), or whole.</summary>
    private UffdOpResult CopyOnce(CopyJob job, AddressRange current, nint source, ref ulong length, ref ulong budget, ref long pagesCopied, bool background, bool split)
    {
        UffdOpResult result;
        if (split)
        {
            if (_splitSliceBytes >= PageTableSpan)
            {
                length = SplitPiece(current.Start, length, _splitSliceBytes);
                // One piece per turn, so the next turn starts where a piece centred on a boundary can.
                budget = length;
            }

            var bulk = _uffd.CopyBulk(current.Start, source, length);
            result = bulk.Combined;
            if (!bulk.First.IsSuccess && PageGeometry.AlignDown(bulk.UpperBytes) is var upper and > 0)
            {
                // The lower half stopped early but the second copier's half went in: those pages leave the book now,
                // so the cursor skips them later instead of meeting each as EEXIST.
                var upperCopied = (long)_book.Complete(new AddressRange(current.Start + bulk.SplitAt, current.Start + bulk.SplitAt + upper, current.DumpStart + bulk.SplitAt), upper);
                _progress.AddCopied(upperCopied, job.Background);
                pagesCopied += upperCopied;
            }
        }
        else
        {
            result = background ? _uffd.CopyBackground(current.Start, source, length) : _uffd.Copy(current.Start, source, length);
        }

        return result;
    }

    private static PagesFileReadException? ReadFailureOf(Exception ex) =>
        ex as PagesFileReadException ?? ex.InnerException as PagesFileReadException;

    /// <summary>Bytes mapped by one page-table page (512 PTEs of 4 KiB on x86_64).</summary>
    internal const ulong PageTableSpan = 2UL << 20;

    /// <summary>
    /// The length of the next split-mode piece at <paramref name="start"/> (at most <paramref name="length"/> bytes).
    /// UFFDIO_COPY installs each page under the lock of the page-table page that maps it; the two halves of a piece inside
    /// one 2 MiB span took that lock in turn for every page (perf of a 1 GiB push: about 7 % of the daemon's CPU in the
    /// queued-spinlock slow path). So a piece near a span boundary is centred on it (<see cref="IUffd.CopyBulk"/> splits
    /// in the middle: its halves are in different page tables), and one further away ends where such a piece can start.
    /// With a split slice of 2 MiB every piece after the first is centred, as long as the chunk lasts; below 2 MiB
    /// centred pieces would alternate with lead-ins, so smaller split slices keep their plain pieces.
    /// </summary>
    internal static ulong SplitPiece(ulong start, ulong length, ulong splitSlice)
    {
        var toBoundary = PageTableSpan - (start % PageTableSpan);
        var half = PageGeometry.AlignDown(splitSlice / 2);
        return Math.Min(length, toBoundary <= half ? 2 * toBoundary : toBoundary - half);
    }

    /// <summary>
    /// One page (current address <paramref name="at"/>) that UFFDIO_COPY refused with ENOENT on its own: no registered
    /// VMA holds it. When the uffd reports every change of the task's memory as an event (CRIU asks for that, the
    /// kernel grants it), a page still pending here was never registered or was taken away without an event: its data
    /// is lost, which fails the task (naming the range) once it ends. Without those events an ENOENT may be an unmap
    /// the daemon was never told of, so the page is dropped, as CRIU does.
    /// </summary>
    private void GiveUpUnregisteredPage(ulong at, ulong dumpAddress)
    {
        if (_uffd.ReportsMemoryChanges)
        {
            _book.Lose(at, at + PageGeometry.PageSize);
            _progress.SetLost(_book.LostPages);
            _log.Warning("{Task}: UFFDIO_COPY at 0x{Address:x} (dump address 0x{Dump:x}): ENOENT, no registered memory there and no event that explains it: page lost", _label, at, dumpAddress);
        }
        else
        {
            _log.Debug("{Task}: UFFDIO_COPY at 0x{Address:x}: ENOENT, mapping gone (the uffd reports no unmap events)", _label, at);
            _book.Drop(at, at + PageGeometry.PageSize);
            _progress.SetDropped(_book.DroppedPages);
        }
    }
}
