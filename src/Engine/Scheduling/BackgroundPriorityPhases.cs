using System.Diagnostics;

namespace LazyActors.Engine.Scheduling;

/// <summary>
/// The background priority of one restore over time: <see cref="WhileRestorerRuns"/> until <c>criu restore</c> has gone,
/// then <see cref="AfterRestorer"/>. CRIU sends "restore finished" before its own last steps (it still stops every task
/// at <c>rt_sigreturn</c>, unmaps its restorer blob and detaches), so a push at the gate's SCHED_FIFO ceiling on both
/// copiers takes the CPUs those steps need; the restorer is gone when it closes the lazy-pages socket (CRIU keeps the
/// socket in its fd store until it exits). A restorer that keeps it open cannot hold the push down for long: at most
/// <see cref="RestorerExitWait"/> after "restore finished" the push is at <see cref="AfterRestorer"/> anyway.
/// </summary>
/// <remarks>
/// Read by every background slice (<see cref="Uffd.UffdEventBarrier"/>) and by the second copier before each half, on
/// their own threads; moved on by the handshake thread. Thread-safe; <see cref="Current"/> costs one clock read while
/// the two priorities differ and the restorer has not gone, nothing otherwise.
/// </remarks>
public sealed class BackgroundPriorityPhases
{
    private readonly long _exitWaitTicks;
    private long _deadline = long.MaxValue;
    private int _gone;

    /// <param name="whileRestorerRuns">Background priority until the restorer has gone.</param>
    /// <param name="afterRestorer">Background priority from then on.</param>
    /// <param name="restorerExitWait">The longest <paramref name="whileRestorerRuns"/> lasts after "restore finished".</param>
    public BackgroundPriorityPhases(BackgroundPriority whileRestorerRuns, BackgroundPriority afterRestorer, TimeSpan restorerExitWait)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(restorerExitWait, TimeSpan.Zero);
        WhileRestorerRuns = whileRestorerRuns;
        AfterRestorer = afterRestorer;
        RestorerExitWait = restorerExitWait;
        _exitWaitTicks = (long)(restorerExitWait.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>One priority for the whole restore.</summary>
    public static BackgroundPriorityPhases Fixed(BackgroundPriority priority) => new(priority, priority, TimeSpan.Zero);

    /// <summary>Background priority until the restorer has gone.</summary>
    public BackgroundPriority WhileRestorerRuns { get; }

    /// <summary>Background priority once the restorer has gone.</summary>
    public BackgroundPriority AfterRestorer { get; }

    /// <summary>The longest <see cref="WhileRestorerRuns"/> lasts after "restore finished".</summary>
    public TimeSpan RestorerExitWait { get; }

    /// <summary>True when a background slice may run at a priority other than the gate's (in either phase).</summary>
    public bool CanLower => WhileRestorerRuns != BackgroundPriority.Gate || AfterRestorer != BackgroundPriority.Gate;

    /// <summary>True once the restorer has gone, or <see cref="RestorerExitWait"/> has passed since "restore finished".</summary>
    public bool RestorerGone => Volatile.Read(ref _gone) != 0 || Stopwatch.GetTimestamp() >= Volatile.Read(ref _deadline);

    /// <summary>How background slices run now.</summary>
    public BackgroundPriority Current
    {
        get
        {
            if (WhileRestorerRuns == AfterRestorer || Volatile.Read(ref _gone) != 0)
            {
                return AfterRestorer;
            }

            if (Stopwatch.GetTimestamp() >= Volatile.Read(ref _deadline))
            {
                Volatile.Write(ref _gone, 1);
                return AfterRestorer;
            }

            return WhileRestorerRuns;
        }
    }

    /// <summary>"Restore finished" arrived: from now on the restorer has at most <see cref="RestorerExitWait"/> to go.</summary>
    public void RestoreFinished()
    {
        var deadline = Stopwatch.GetTimestamp() + _exitWaitTicks;
        // Only the first report counts: a later one must not move the bound further out.
        Interlocked.CompareExchange(ref _deadline, deadline, long.MaxValue);
    }

    /// <summary>The restorer has gone (closed the lazy-pages socket), or cannot be waited for: <see cref="AfterRestorer"/> from now on.</summary>
    public void RestorerHasGone() => Volatile.Write(ref _gone, 1);
}
