namespace LazyActors.Engine.Scheduling;

/// <summary>
/// The one-shot daemon's start-up below <c>criu restore</c> (<c>scheduling.start-up-below-restorer</c>). The daemon
/// signals readiness as soon as its socket listens, so the restorer starts while the daemon still builds its actor
/// system and runs the warm-up on engine threads at nice −10; on two CPUs that work takes a CPU from the restorer while
/// it reads the images and forks the tree, before it connects (the kernel queues its connection). While lowered, the
/// threads doing that work run SCHED_IDLE; when the restorer connects (the handshake thread itself is never lowered),
/// at "restore finished", at the end of the run, or <see cref="Bound"/> after
/// <see cref="Begin"/> at the latest, every SCHED_IDLE thread of the process returns to SCHED_OTHER with its own nice
/// value. Not later than the connection: a first version held the daemon low until "restore finished", and on the
/// loaded machine `criu restore` of the 1 GiB task then waited for it until the 2 s bound (docs/benchmarks.md,
/// start41). Not on a uffd message: before the restorer connects the only uffds are the warm-up's own stand-ins, whose
/// faults ended the lowered start-up early in 26 of 30 runs of start41 (and in a CI-like run). Process-wide state: only for a process the engine owns (see <see cref="ProcessThreads"/>); a one-shot
/// daemon serves one restore.
/// </summary>
internal static class StartUpPriority
{
    /// <summary>The longest the start-up stays lowered: past it a restorer that is still working gets the daemon
    /// at full priority anyway, so a fault the restorer itself takes (never seen with CRIU 4.x) is not starved.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(2);

    private const int NotStarted = 0;
    private const int LoweredState = 1;
    private const int EndedState = 2;

    private static int s_state;
    private static Timer? s_bound;
    private static string? s_endedBy;
    private static int s_raised;
    private static int s_refused;
    private static string? s_notApplied;

    /// <summary>Whether the start-up is lowered now.</summary>
    public static bool Lowered => Volatile.Read(ref s_state) == LoweredState;

    /// <summary>What ended the lowered start-up and how many threads it raised then, or null (not ended, never begun).</summary>
    public static string? Describe() => Volatile.Read(ref s_notApplied) is { } why
        ? $"start-up below the restorer not applied: {why}"
        : Volatile.Read(ref s_endedBy) is { } by
            ? $"start-up below the restorer until {by} ({Volatile.Read(ref s_raised)} thread(s) raised{(Volatile.Read(ref s_refused) is > 0 and var refused ? $", {refused} refused" : "")})"
            : null;

    /// <summary>
    /// Starts the lowered start-up (once per process); the calling thread is left as it is (it signals readiness). Not
    /// where the kernel refuses a SCHED_IDLE thread its way back to SCHED_OTHER: the daemon would serve the whole
    /// restore from threads that only run when a CPU is idle.
    /// </summary>
    public static void Begin()
    {
        if (!SchedulingGrants.LeaveIdle)
        {
            Interlocked.CompareExchange(ref s_notApplied, SchedulingGrants.DescribeRefusals(), null);
            return;
        }

        if (Interlocked.CompareExchange(ref s_state, LoweredState, NotStarted) != NotStarted)
        {
            return;
        }

        var bound = new Timer(_ => End("the bound"), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Volatile.Write(ref s_bound, bound);
        bound.Change(Bound, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Makes the calling thread SCHED_IDLE while the start-up is lowered (start-up work calls this first).</summary>
    public static void LowerCallingThread()
    {
        if (Lowered)
        {
            _ = ThreadScheduling.TrySetIdle();
        }
    }

    /// <summary>Keeps the calling thread out of the lowered start-up: back to SCHED_OTHER if it inherited SCHED_IDLE.</summary>
    public static void ExemptCallingThread()
    {
        if (Lowered)
        {
            _ = ThreadScheduling.TrySetNormal();
        }
    }

    /// <summary>Ends the lowered start-up (the first call only): every SCHED_IDLE thread back to SCHED_OTHER.</summary>
    /// <param name="reason">What ended it, for the log ("restore finished", "the bound", "the end of the run").</param>
    public static void End(string reason)
    {
        if (Interlocked.CompareExchange(ref s_state, EndedState, LoweredState) != LoweredState)
        {
            return;
        }

        Interlocked.Exchange(ref s_bound, null)?.Dispose();
        var (raised, refused) = ProcessThreads.RaiseIdleToNormal();
        Volatile.Write(ref s_raised, raised);
        Volatile.Write(ref s_refused, refused);
        Volatile.Write(ref s_endedBy, reason);
    }
}
