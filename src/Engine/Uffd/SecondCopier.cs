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
    private readonly ManualResetEventSlim _work = new(false, spinCount: 0);
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
    public SecondCopier(GatePriority priority = GatePriority.Off, int? nice = null, BackgroundPriority background = BackgroundPriority.Gate, bool balance = false)
        : this(priority, nice, BackgroundPriorityPhases.Fixed(background), balance)
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
    public SecondCopier(GatePriority priority, int? nice, BackgroundPriorityPhases background, bool balance = false)
    {
        ArgumentNullException.ThrowIfNull(background);
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

    /// <summary>Takes the helper for one split; false when another task's slice has it (copy whole then).</summary>
    public bool TryBegin() => !Volatile.Read(ref _stopping) && Interlocked.CompareExchange(ref _busy, 1, 0) == 0;

    /// <summary>Starts the helper on one half (after <see cref="TryBegin"/> returned true).</summary>
    public void Start(UserFaultFd uffd, HalfCopy copy, ulong destination, nint source, ulong length)
    {
        _uffd = uffd;
        _copy = copy;
        _destination = destination;
        _source = source;
        _length = length;
        _failure = null;
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

            FollowPhase();
            try
            {
                _result = _copy!(_uffd!, SplitHalf.Second, _destination, _source, _length);
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
                _ = ThreadScheduling.TrySetIdle();
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
