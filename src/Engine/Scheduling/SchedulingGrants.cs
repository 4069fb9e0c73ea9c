namespace LazyActors.Engine.Scheduling;

/// <summary>
/// What the kernel grants this process's threads, found by asking it once on a scratch thread rather than by reading
/// <c>CapEff</c>: a process can show CAP_SYS_NICE in <c>/proc/self/status</c> and still be refused, because the kernel
/// checks that capability against the initial user namespace (a container's root), while RLIMIT_RTPRIO alone can grant
/// SCHED_FIFO. The project's CI is such a machine: SCHED_FIFO was granted there, but a SCHED_IDLE thread could not return
/// to SCHED_OTHER, and a start-up held below the restorer stayed SCHED_IDLE (0 threads raised at its end).
/// </summary>
internal static class SchedulingGrants
{
    private static readonly Lazy<Probe> ProbeResult = new(Run, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>A thread may go below nice 0 (engine threads at nice −10, the reader's nice).</summary>
    public static bool NegativeNice => ProbeResult.Value.NegativeNice;

    /// <summary>A thread may become SCHED_FIFO 1 (the reader, the gate's priority ceiling).</summary>
    public static bool Realtime => ProbeResult.Value.Realtime;

    /// <summary>A SCHED_IDLE thread may return to SCHED_OTHER at its nice value. Without this, making a thread SCHED_IDLE
    /// is for good, so nothing that must come back up is lowered that way.</summary>
    public static bool LeaveIdle => ProbeResult.Value.LeaveIdle;

    /// <summary>One line for the log: what was refused, or null when everything was granted.</summary>
    public static string? DescribeRefusals()
    {
        var refused = new List<string>(3);
        if (!NegativeNice)
        {
            refused.Add("negative nice values");
        }

        if (!Realtime)
        {
            refused.Add("SCHED_FIFO");
        }

        if (!LeaveIdle)
        {
            refused.Add("leaving SCHED_IDLE");
        }

        return refused.Count == 0 ? null : $"the kernel refuses {string.Join(", ", refused)} to this process (CAP_SYS_NICE missing, or held only inside a user namespace; RLIMIT_NICE / RLIMIT_RTPRIO too low)";
    }

    private static Probe Run()
    {
        var probe = default(Probe);
        // A scratch thread: whatever the kernel grants or refuses, only that thread's scheduling changes, and it ends.
        var thread = new Thread(() => probe = Ask()) { IsBackground = true, Name = "la-sched-probe" };
        thread.Start();
        thread.Join();
        return probe;
    }

    private static Probe Ask()
    {
        if (!ThreadScheduling.TryGetNice(out var nice))
        {
            return default;
        }

        // Leaving SCHED_IDLE is asked without entering it (a thread stuck there would end only when a CPU idles): the
        // kernel lets a thread leave SCHED_IDLE exactly when it lets it lower its nice value back to the one it has, so
        // one step up (always allowed) and the step back answer it.
        var leaveIdle = ThreadScheduling.TrySetNice(Math.Min(nice + 1, 19)) && ThreadScheduling.TrySetNice(nice);
        var negativeNice = ThreadScheduling.TrySetNice(Math.Max(-20, Math.Min(nice, 0) - 1));
        var realtime = ThreadScheduling.TrySetRealtime(1);
        if (realtime)
        {
            _ = ThreadScheduling.TrySetNormal();
        }

        return new Probe(negativeNice, realtime, leaveIdle);
    }

    private readonly record struct Probe(bool NegativeNice, bool Realtime, bool LeaveIdle);
}
