using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Scheduling;

namespace LazyActors.Engine.Uffd;

/// <summary>Which half of a split background slice a copy is (see <see cref="SecondCopier"/>).</summary>
public enum SplitHalf
{
    /// <summary>The lower half, copied on the caller's thread.</summary>
    First,

    /// <summary>The upper half, copied on the helper thread.</summary>
    Second,
}

/// <summary>
/// What <see cref="IUffd.CopyBulk"/> did: the lower part [0, <paramref name="SplitAt"/>) copied on the caller's thread
/// (<paramref name="First"/>) and, when the slice was split, the upper part on the second copier (<paramref name="Second"/>;
/// unsplit: SplitAt is the whole length and Second copied nothing). Each is what the kernel answered for its part.
/// </summary>
public readonly record struct BulkCopyResult(UffdOpResult First, ulong SplitAt, UffdOpResult Second)
{
    /// <summary>An unsplit copy of <paramref name="length"/> bytes.</summary>
    public static BulkCopyResult Whole(UffdOpResult result, ulong length) => new(result, length, new UffdOpResult(0, Errno.None));

    /// <summary>Bytes of the upper part copied (from SplitAt on), whatever happened to the lower part.</summary>
    public ulong UpperBytes => (ulong)Math.Max(0, Second.Bytes);

    /// <summary>
    /// What one ioctl of the whole would report: the bytes done from the start and the first error met. When the lower
    /// part failed, the upper part's pages are not in it; the caller records them separately (<see cref="UpperBytes"/>),
    /// so that it does not meet them again as EEXIST one page at a time.
    /// </summary>
    public UffdOpResult Combined
    {
        get
        {
            if (!First.IsSuccess)
            {
                return First;
            }

            return Second.IsSuccess
                ? new UffdOpResult((long)SplitAt + Second.Bytes, Errno.None)
                : new UffdOpResult((long)SplitAt + Math.Max(0, Second.Bytes), Second.Error);
        }
    }
}

/// <summary>One UFFDIO_COPY of a half; the fault-injection seam replaces the plain ioctl (see <see cref="UserFaultFdAdapter.CopyBulk(ulong, nint, ulong, HalfCopy?)"/>).</summary>
public delegate UffdOpResult HalfCopy(UserFaultFd uffd, SplitHalf half, ulong destination, nint source, ulong length);

/// <summary>
/// The second copier of a restore: one helper thread that copies the upper half of a large background slice while
/// the task actor's thread copies the lower half, both inside one hold of the uffd's gate
/// (<see cref="UserFaultFdAdapter.CopyBulk(ulong, nint, ulong)"/>). UFFDIO_COPY is CPU-bound (<c>copy_from_user</c>
/// and the page install), and a single large task otherwise leaves the machine's other CPU idle while its toucher
/// waits at the push front.
/// </summary>
/// <remarks>
/// One helper for the whole restore: a slice splits only when the helper is free (<see cref="TryBegin"/>), so two
/// tasks pushing at once never queue behind it (the pusher asks for splits only while the tree has fewer tasks than
/// CPUs). The helper is idle (blocked) between halves; with the gate's priority ceiling it runs SCHED_FIFO 1 for good,
/// like a copier inside the gate, so no scheduling call is paid per half. With a lowered <see cref="BackgroundPriority"/>
/// it stays at that priority instead (it only copies background halves), and a fault that waits for its half lends it
/// SCHED_FIFO 1 until that half is done (<see cref="BoostWhileWorking"/>). Thread-safe.
/// </remarks>
public sealed class SecondCopier : IDisposable
{
    /// <summary>A slice shorter than this is copied whole: the hand-over would cost more than the half saves.</summary>
    public const ulong MinSplitBytes = 256 * 1024;

    // A half never takes this long (512 KiB at a few GB/s is well under a millisecond); the bound only turns a helper
    // that stopped into a clear error instead of a hang.
    private static readonly TimeSpan HalfLimit = TimeSpan.FromSeconds(60);

    private readonly Thread _thread;
    // The helper blocks between slices at once by default; with a helper spin it spins (then yields) that many rounds
    // first, so that the next slice of a push, which follows within microseconds, does not wait for a wake-up.
    private readonly ManualResetEventSlim _work;
    // The caller spins briefly before it blocks for the helper's half. The spin (ending in sched_yield) is about 3 % of a
    // 1 GiB push's CPU in perf, but blocking at once (spinCount 0) measured worse, interleaved: +0.2 CPU-s and +0.25 s
    // on a 1 GiB sequential restore (docs/benchmarks.md, cpu22).
    private readonly ManualResetEventSlim _done = new(false, spinCount: 200);
    private readonly GatePriority _priority;
    private readonly BackgroundPriorityPhases _background;
    private readonly int? _nice;
    // The priority the helper gave itself last (a BackgroundPriority); written by the helper, read by a boosting fault.
    private int _applied = -1;
    private readonly Lock _boost = new();
    private int _tid;
    private bool _working;
    private bool _boosted;
    private int _busy;
    private bool _stopping;
    private UserFaultFd? _uffd;
    private HalfCopy? _copy;
    private ulong _destination;
    private nint _source;
    private ulong _length;
    private UffdOpResult _result;
    private Exception? _failure;
    private long _splits;
    private long _waits;
    private readonly bool _balance;
    // The caller's part of a split slice in 1/ShareUnits (see SplitPoint); touched only by the caller holding the helper.
    private int _callerShare = ShareUnits / 2;

    // Pieces claimed from both ends (_piece > 0). _ends packs the slice's unclaimed part in pages: the caller's next
    // page (low 32 bits, moving up) and the end of what the helper has not taken (high 32 bits, moving down); both claim
    // with one compare-exchange. _job says whether the helper took the posted slice (Running) or the caller finished it
    // before the helper woke (Cancelled: the helper then never touches it, and the caller does not wait for a wake-up).
    private readonly ulong _piece;
    private long _ends;
    private int _job;
    private bool _callerFailed;
    private bool _helperGaveBack;
    private const int JobPosted = 1;
    private const int JobRunning = 2;
    private const int JobCancelled = 3;

    /// <summary>Largest helper spin (ManualResetEventSlim's own bound).</summary>
    public const int MaxHelperSpin = 2047;

    /// <summary>Largest piece of <see cref="CopyFromBothEnds"/>.</summary>
    public const ulong MaxPieceBytes = 64UL << 20;

    /// <summary>Granularity of the split point: the caller's part moves by 1/64 of a slice per split when balancing.</summary>
    public const int ShareUnits = 64;

    /// <summary>The caller's part never goes below a quarter or above three quarters of a slice.</summary>
    public const int MinCallerShare = ShareUnits / 4;

    /// <summary>See <see cref="MinCallerShare"/>.</summary>
    public const int MaxCallerShare = ShareUnits * 3 / 4;

    /// <param name="priority">With <see cref="GatePriority.Ceiling"/> the helper runs SCHED_FIFO 1 (best effort).</param>
    /// <param name="nice">Nice value of the helper otherwise (null = unchanged).</param>
    /// <param name="background">
    /// Lowered background priority: the helper runs at nice 0 (<see cref="BackgroundPriority.Normal"/>) or SCHED_IDLE
    /// (<see cref="BackgroundPriority.Idle"/>) instead of either of the above.
    /// </param>
    /// <param name="balance">Move the split point after every split towards the thread that finished last (see
    /// <see cref="SplitPoint"/>); false = always split in the middle.</param>
    /// <param name="piece">
    /// Non-zero: a split slice is not cut in two fixed halves but copied in pieces of this many bytes claimed from both
    /// ends (see <see cref="CopyFromBothEnds"/>); 0: halves.
    /// </param>
    /// <param name="helperSpin">Rounds the helper spins for the next slice before it blocks (0: blocks at once).</param>
    public SecondCopier(GatePriority priority = GatePriority.Off, int? nice = null, BackgroundPriority background = BackgroundPriority.Gate, bool balance = false, ulong piece = 0, int helperSpin = 0)
        : this(priority, nice, BackgroundPriorityPhases.Fixed(background), balance, piece, helperSpin)
    {
    }

    /// <summary>
    /// A second copier whose priority follows the restore's phases: before each half it takes the background priority
    /// <paramref name="background"/> gives at that moment, if that changed since its last half.
    /// </summary>
    /// <param name="priority">As for the other constructor.</param>
    /// <param name="nice">As for the other constructor.</param>
    /// <param name="background">The restore's background priority over time (shared with its uffds' gates).</param>
    /// <param name="balance">As for the other constructor.</param>
    /// <param name="piece">As for the other constructor.</param>
    /// <param name="helperSpin">As for the other constructor.</param>
    public SecondCopier(GatePriority priority, int? nice, BackgroundPriorityPhases background, bool balance = false, ulong piece = 0, int helperSpin = 0)
    {
        ArgumentNullException.ThrowIfNull(background);
        ArgumentOutOfRangeException.ThrowIfNegative(helperSpin);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(helperSpin, MaxHelperSpin);
        _work = new ManualResetEventSlim(false, spinCount: helperSpin);
        if (piece % PageGeometry.PageSize != 0 || piece > MaxPieceBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(piece), piece, $"a piece is a multiple of {PageGeometry.PageSize} bytes up to {MaxPieceBytes}");
        }

        _piece = piece;
        _priority = priority;
        _background = background;
        _nice = nice;
        _balance = balance;
        _thread = new Thread(Loop) { IsBackground = true, Name = "la-second-copier" };
        _thread.Start();
    }

    /// <summary>Slices copied in two halves so far.</summary>
    public long Splits => Interlocked.Read(ref _splits);

    /// <summary>Splits whose caller reached <see cref="Finish"/> before the helper's half was done (and spun or slept for it).</summary>
    public long Waits => Interlocked.Read(ref _waits);

    /// <summary>True when the half started last is done: <see cref="Finish"/> would not wait.</summary>
    public bool HelperDone => _done.IsSet;

    /// <summary>The caller's current part of a split slice, in 1/<see cref="ShareUnits"/>.</summary>
    public int CallerShare => Volatile.Read(ref _callerShare);

    /// <summary>
    /// Where a slice of <paramref name="length"/> bytes is split (after <see cref="TryBegin"/> returned true): the caller
    /// copies [0, split), the helper the rest. The middle, unless balancing: the helper starts its half a wake-up later
    /// than the caller starts its own (it sleeps between halves, and waking an idle CPU takes tens of microseconds), so
    /// with even halves the caller finishes first and spins in <see cref="Finish"/> for the difference on every split
    /// (perf of a 1 GiB push: about 6 % of the daemon's CPU). Balancing moves the split by 1/<see cref="ShareUnits"/>
    /// after each split towards the side that finished first, so that both finish at about the same time. Page
    /// aligned, at least one page each side.
    /// </summary>
    public ulong SplitPoint(ulong length)
    {
        var share = _balance ? _callerShare : ShareUnits / 2;
        var split = PageGeometry.AlignDown(length / ShareUnits * (ulong)share);
        return Math.Clamp(split, PageGeometry.PageSize, PageGeometry.AlignDown(length - PageGeometry.PageSize));
    }

    /// <summary>Bytes of a piece claimed from either end of a split slice; 0 = fixed halves (<see cref="SplitPoint"/>).</summary>
    public ulong PieceBytes => _piece;

    /// <summary>Slices the caller finished alone before the helper woke up (pieces mode).</summary>
    public long Unwoken => Interlocked.Read(ref _unwoken);

    private long _unwoken;

    /// <summary>
    /// Copies one slice with the helper, in pieces of <see cref="PieceBytes"/> (after <see cref="TryBegin"/> returned
    /// true): this thread claims pieces from the start upwards, the helper from the end downwards, until they meet. With
    /// fixed halves the caller, which starts at once, reaches the middle a wake-up of the helper (tens of microseconds)
    /// before the helper is done and spins for the difference, and the helper cannot help with what is left of the
    /// caller's half; with pieces whichever thread is free takes the next piece, the caller waits for one piece of the
    /// helper's at most, and a slice the caller finishes before the helper woke does not wait for it at all.
    /// </summary>
    /// <returns>
    /// As <see cref="BulkCopyResult"/>: the caller's part [0, SplitAt) copied upwards from 0 (its bytes from 0 and the
    /// first error met) and the helper's part [SplitAt, length), always wholly copied: a helper piece the kernel refuses
    /// is given back to the caller, which meets the error itself (or EEXIST for the pages the helper's piece did copy).
    /// After a caller error nobody claims more; what lies between the two parts stays for later.
    /// </returns>
    public BulkCopyResult CopyFromBothEnds(UserFaultFd uffd, HalfCopy copy, ulong destination, nint source, ulong length)
    {
        ArgumentNullException.ThrowIfNull(uffd);
        ArgumentNullException.ThrowIfNull(copy);
        if (_piece == 0)
        {
            throw new InvalidOperationException("this second copier splits slices in halves (no piece size)");
        }

        try
        {
            var pages = length / PageGeometry.PageSize;
            if (length % PageGeometry.PageSize != 0 || pages > int.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(length), length, "a split slice is whole pages");
            }

            Load(uffd, copy, destination, source, length);
            _callerFailed = false;
            _helperGaveBack = false;
            Volatile.Write(ref _ends, Pack(0, (uint)pages));
            _done.Reset();
            lock (_boost)
            {
                _working = true;
            }

            Volatile.Write(ref _job, JobPosted);
            _work.Set();

            var first = new UffdOpResult((long)length, Errno.None);
            ulong copiedUpTo = 0;
            var helperTookIt = true;
            while (true)
            {
                while (TryClaim(fromLow: true, out var offset, out var bytes))
                {
                    var result = copy(uffd, SplitHalf.First, destination + offset, source + (nint)offset, bytes);
                    if (!result.IsSuccess)
                    {
                        first = new UffdOpResult((long)offset + Math.Max(0, result.Bytes), result.Error);
                        Volatile.Write(ref _callerFailed, true);
                        break;
                    }

                    copiedUpTo = offset + bytes;
                }

                if (helperTookIt && Interlocked.CompareExchange(ref _job, JobCancelled, JobPosted) == JobPosted)
                {
                    // Done before the helper woke: it will find the slice cancelled and leave it alone.
                    helperTookIt = false;
                    Interlocked.Increment(ref _unwoken);
                    lock (_boost)
                    {
                        _working = false;
                    }
                }
                else if (helperTookIt)
                {
                    if (!_done.IsSet)
                    {
                        Interlocked.Increment(ref _waits);
                    }

                    if (!_done.Wait(HalfLimit))
                    {
                        throw new InvalidOperationException($"the second copier did not finish its pieces (UFFDIO_COPY 0x{destination:x}+0x{length:x}) within {HalfLimit.TotalSeconds} s");
                    }

                    if (_failure is { } failure)
                    {
                        throw new InvalidOperationException($"the second copier failed on UFFDIO_COPY 0x{destination:x}+0x{length:x}: {failure.Message}", failure);
                    }

                    helperTookIt = false;
                }

                // A piece the helper gave back (the kernel refused it) is the caller's now: claim on.
                if (first.IsSuccess && Volatile.Read(ref _helperGaveBack) && Low(Volatile.Read(ref _ends)) < High(Volatile.Read(ref _ends)))
                {
                    continue;
                }

                break;
            }

            var splitAt = High(Volatile.Read(ref _ends)) * PageGeometry.PageSize;
            if (first.IsSuccess)
            {
                // Everything below the helper's part was copied by this thread.
                first = new UffdOpResult((long)Math.Max(copiedUpTo, splitAt), Errno.None);
                splitAt = Math.Max(copiedUpTo, splitAt);
            }

            Interlocked.Increment(ref _splits);
            return new BulkCopyResult(first, splitAt, new UffdOpResult((long)(length - splitAt), Errno.None));
        }
        finally
        {
            _uffd = null;
            _copy = null;
            Volatile.Write(ref _busy, 0);
        }
    }

    private static long Pack(uint low, uint high) => (long)(((ulong)high << 32) | low);

    private static uint Low(long ends) => (uint)((ulong)ends & 0xffffffffUL);

    private static uint High(long ends) => (uint)((ulong)ends >> 32);

    // Claims the next piece at the low end (the caller) or the high end (the helper) of what is unclaimed; false when
    // nothing is left, or (helper) when the caller met an error or the helper gave a piece back.
    private bool TryClaim(bool fromLow, out ulong offset, out ulong bytes)
    {
        var piecePages = (uint)(_piece / PageGeometry.PageSize);
        while (true)
        {
            if (!fromLow && (Volatile.Read(ref _callerFailed) || Volatile.Read(ref _helperGaveBack)))
            {
                break;
            }

            var ends = Volatile.Read(ref _ends);
            uint low = Low(ends), high = High(ends);
            if (low >= high)
            {
                break;
            }

            var take = Math.Min(piecePages, high - low);
            var next = fromLow ? Pack(low + take, high) : Pack(low, high - take);
            if (Interlocked.CompareExchange(ref _ends, next, ends) == ends)
            {
                offset = (fromLow ? low : high - take) * PageGeometry.PageSize;
                bytes = take * PageGeometry.PageSize;
                return true;
            }
        }

        offset = 0;
        bytes = 0;
        return false;
    }

    // The helper's side of CopyFromBothEnds: pieces from the high end until the two ends meet. A refused piece goes back
    // (the unclaimed part grows to its end again) and the helper stops, so its part stays whole and copied.
    private void CopyPiecesFromTop()
    {
        while (TryClaim(fromLow: false, out var offset, out var bytes))
        {
            var result = _copy!(_uffd!, SplitHalf.Second, _destination + offset, _source + (nint)offset, bytes);
            if (result.IsSuccess)
            {
                continue;
            }

            while (true)
            {
                var ends = Volatile.Read(ref _ends);
                // Only this thread lowers the high end, and the caller never claims past it, so it is still offset here.
                if (Interlocked.CompareExchange(ref _ends, Pack(Low(ends), (uint)((offset + bytes) / PageGeometry.PageSize)), ends) == ends)
                {
                    break;
                }
            }

            Volatile.Write(ref _helperGaveBack, true);
            return;
        }
    }

    /// <summary>The slice both halves (or all pieces) come from, and no failure yet.</summary>
    private void Load(UserFaultFd uffd, HalfCopy copy, ulong destination, nint source, ulong length)
    {
        _uffd = uffd;
        _copy = copy;
        _destination = destination;
        _source = source;
        _length = length;
        _failure = null;
    }

    /// <summary>Takes the helper for one split; false when another task's slice has it (copy whole then).</summary>
    public bool TryBegin() => !Volatile.Read(ref _stopping) && Interlocked.CompareExchange(ref _busy, 1, 0) == 0;

    /// <summary>Starts the helper on one half (after <see cref="TryBegin"/> returned true).</summary>
    public void Start(UserFaultFd uffd, HalfCopy copy, ulong destination, nint source, ulong length)
    {
        Load(uffd, copy, destination, source, length);
        _done.Reset();
        lock (_boost)
        {
            _working = true;
        }

        _work.Set();
    }

    /// <summary>
    /// A fault waits for the half in progress (or about to start): lends the helper SCHED_FIFO 1 until that half is done.
    /// Nothing when it is not working on a half or already runs real-time.
    /// </summary>
    public void BoostWhileWorking()
    {
        lock (_boost)
        {
            if (_working && !_boosted && Volatile.Read(ref _applied) != (int)BackgroundPriority.Gate && Volatile.Read(ref _tid) != 0)
            {
                _boosted = ThreadScheduling.TrySetRealtime(_tid, 1);
            }
        }
    }

    /// <summary>True while the helper runs with a lent real-time priority (tests).</summary>
    internal bool IsBoosted
    {
        get
        {
            lock (_boost)
            {
                return _boosted;
            }
        }
    }

    /// <summary>Waits for the half started with <see cref="Start"/> and gives the helper back.</summary>
    /// <exception cref="InvalidOperationException">The helper threw, or did not finish within a minute.</exception>
    public UffdOpResult Finish()
    {
        try
        {
            var waited = !_done.IsSet;
            if (waited)
            {
                Interlocked.Increment(ref _waits);
            }

            if (_balance)
            {
                // The caller was first at the finish: it takes more of the next slice; the helper was first: less.
                _callerShare = Math.Clamp(_callerShare + (waited ? 1 : -1), MinCallerShare, MaxCallerShare);
            }

            if (!_done.Wait(HalfLimit))
            {
                throw new InvalidOperationException($"the second copier did not finish its half (UFFDIO_COPY 0x{_destination:x}+0x{_length:x}) within {HalfLimit.TotalSeconds} s");
            }

            if (_failure is { } failure)
            {
                throw new InvalidOperationException($"the second copier failed on UFFDIO_COPY 0x{_destination:x}+0x{_length:x}: {failure.Message}", failure);
            }

            Interlocked.Increment(ref _splits);
            return _result;
        }
        finally
        {
            _uffd = null;
            _copy = null;
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Stops the helper thread (bounded wait).</summary>
    public void Dispose()
    {
        Volatile.Write(ref _stopping, true);
        _work.Set();
        _thread.Join(TimeSpan.FromSeconds(5));
    }

    private void Loop()
    {
        Volatile.Write(ref _tid, Interop.Libc.GetTid());
        SetOwnPriority(_background.Current);

        while (true)
        {
            _work.Wait();
            _work.Reset();
            if (Volatile.Read(ref _stopping))
            {
                return;
            }

            if (_piece > 0 && Interlocked.CompareExchange(ref _job, JobRunning, JobPosted) != JobPosted)
            {
                // The caller finished the slice before this thread woke (or a stale wake-up): nothing to do, and no
                // _done to set (the caller does not wait for a slice it cancelled).
                continue;
            }

            FollowPhase();
            try
            {
                if (_piece > 0)
                {
                    CopyPiecesFromTop();
                }
                else
                {
                    _result = _copy!(_uffd!, SplitHalf.Second, _destination, _source, _length);
                }
            }
            catch (Exception ex)
            {
                _failure = ex;
            }

            lock (_boost)
            {
                _working = false;
                if (_boosted)
                {
                    _boosted = false;
                    ThreadScheduling.TrySetNormal();
                    SetOwnPriority(_background.Current);
                }
            }

            _done.Set();
        }
    }

    /// <summary>The background priority the helper runs its halves at now (tests).</summary>
    internal BackgroundPriority AppliedPriority => (BackgroundPriority)Volatile.Read(ref _applied);

    // The restore moved on (the restorer has gone): the next half runs at the new background priority. Not while a fault
    // lends the helper real time: it takes the new priority when that ends.
    private void FollowPhase()
    {
        var wanted = _background.Current;
        if ((int)wanted == Volatile.Read(ref _applied))
        {
            return;
        }

        lock (_boost)
        {
            if (!_boosted)
            {
                ThreadScheduling.TrySetNormal();
                SetOwnPriority(wanted);
            }
        }
    }

    private void SetOwnPriority(BackgroundPriority background)
    {
        Volatile.Write(ref _applied, (int)background);
        switch (background)
        {
            case BackgroundPriority.Idle:
                // Only where the kernel lets the thread leave SCHED_IDLE again (a fault lends it real time, a later phase
                // raises it); elsewhere the half keeps the thread's own priority.
                if (SchedulingGrants.LeaveIdle)
                {
                    _ = ThreadScheduling.TrySetIdle();
                }

                break;
            case BackgroundPriority.Normal:
                _ = ThreadScheduling.TrySetNice(0);
                break;
            default:
                if (_priority is GatePriority.Ceiling or GatePriority.CeilingHeld)
                {
                    _ = ThreadScheduling.TrySetRealtime(1);
                }
                else if (_nice is { } nice)
                {
                    _ = ThreadScheduling.TrySetNice(nice);
                }

                break;
        }
    }
}
