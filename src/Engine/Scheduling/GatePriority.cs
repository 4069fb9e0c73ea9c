namespace LazyActors.Engine.Scheduling;

/// <summary>Protection of a uffd gate's holder against preemption (best effort, needs CAP_SYS_NICE).</summary>
public enum GatePriority
{
    /// <summary>No change: the holder keeps its own priority.</summary>
    Off,

    /// <summary>The holder inherits the reader's SCHED_FIFO priority when a read waits for it, until it leaves.</summary>
    Inherit,

    /// <summary>
    /// Priority ceiling: every copy runs as SCHED_FIFO 1 for the length of one bounded slice, then the thread returns to
    /// its normal policy. The fault path never waits for a preempted copier; the price is that bulk copying takes the
    /// CPUs it runs on ahead of the tasks, in slices of at most copy-slice (which is why at most
    /// background-tasks-at-once tasks are pushed at a time).
    /// </summary>
    Ceiling,

    /// <summary>
    /// <see cref="Ceiling"/>, but a thread keeps SCHED_FIFO 1 from one copy to the next instead of dropping it after
    /// each: two <c>sched_setscheduler</c> calls per slice were about 2 % of a 1 GiB push's CPU (docs/benchmarks.md,
    /// seq27 and fixed32). It drops it as soon as it handles a message of any actor other than a task's
    /// (<see cref="Uffd.UffdEventBarrier.ReleaseHeldCeiling"/>) or enters a lowered background slice, so nothing but
    /// the task actors' copies and their bookkeeping runs real-time. A thread that blocks holding it costs nothing.
    /// </summary>
    CeilingHeld,
}
