using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Scheduling;

/// <summary>
/// How the threads on the fault path ask to be scheduled. A restored tree usually keeps every CPU busy, and on a small
/// machine a thread that loses its CPU to a task waits a whole scheduler tick (4 ms at HZ=250) or more; a fault must
/// not wait for that. All of it is best effort: without CAP_SYS_NICE the calls are refused and nothing changes.
/// </summary>
/// <param name="ReaderRealtime">
/// The epoll reader asks for SCHED_FIFO priority 1: it only reads uffd messages and posts them, then blocks again, so
/// running it the moment a fault arrives costs the machine nothing.
/// </param>
/// <param name="ReaderNice">Nice value of the reader when real-time is off or refused (<see cref="int.MinValue"/> = unchanged).</param>
/// <param name="GatePriority">
/// How a copier holding a task's uffd gate is kept from being preempted while the reader waits for it (see
/// <see cref="UffdEventBarrier"/>); a preempted holder would keep that task's faults unread for a scheduler tick or
/// more, the classic priority inversion.
/// </param>
/// <param name="Background">How background slices are scheduled (see <see cref="BackgroundPriority"/>).</param>
public readonly record struct UffdScheduling(bool ReaderRealtime, int ReaderNice, GatePriority GatePriority,
    BackgroundPriority Background = BackgroundPriority.Gate)
{
    /// <summary>
    /// The restore's background priority over time (before and after the restorer has gone), shared by every uffd it
    /// opens and its second copier; null: <see cref="Background"/> throughout.
    /// </summary>
    public BackgroundPriorityPhases? Phases { get; init; }

    /// <summary>What background slices follow: <see cref="Phases"/>, or <see cref="Background"/> throughout.</summary>
    public BackgroundPriorityPhases BackgroundPhases => Phases ?? BackgroundPriorityPhases.Fixed(Background);

    /// <summary>Leave every thread as created (tests).</summary>
    public static UffdScheduling Unchanged { get; } = new(false, int.MinValue, GatePriority.Off);
}
