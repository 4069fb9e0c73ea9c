using LazyActors.Engine.Scheduling;

namespace LazyActors.Testing;

/// <summary>What the kernel grants this machine's threads, as the daemon itself finds it (a probe, not CapEff).</summary>
public static class SchedulingAvailability
{
    /// <summary>Whether a SCHED_IDLE thread may return to SCHED_OTHER here (the start-up below the restorer needs it).</summary>
    public static bool LeaveIdle => SchedulingGrants.LeaveIdle;

    /// <summary>What the kernel refuses here, or null.</summary>
    public static string? Refusals => SchedulingGrants.DescribeRefusals();
}
