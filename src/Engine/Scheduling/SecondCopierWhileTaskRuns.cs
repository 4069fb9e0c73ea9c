namespace LazyActors.Engine.Scheduling;

/// <summary>
/// Whether a task's background chunk is split across the second copier while the task's main thread is running
/// ('R' in <c>/proc/PID/stat</c>, see <see cref="TaskRunState"/>): a task that runs computes on pages it has, and on two
/// CPUs the second copier then takes the CPU it runs on.
/// </summary>
public enum SecondCopierWhileTaskRuns
{
    /// <summary>Split whenever the tree has fewer tasks than CPUs, whatever the task does (main's behaviour).</summary>
    Always,

    /// <summary>
    /// Never split while the task runs (python33): helps a program that computes on what it has (python), but a
    /// sequential reader also runs over the pages the push copied, catches up with a one-copier push and faults at its
    /// front (742-1117 faults per GiB in python33).
    /// </summary>
    Never,

    /// <summary>
    /// Split while the task runs only while it reads in order at the push front (push-front following: its last faults
    /// each came just after the previous one), i.e. while it is held up by the push: a sequential reader that caught up
    /// gets both copiers again after a few faults, a program computing on pages it has keeps its CPU (py51).
    /// </summary>
    WhenFollowing,

    /// <summary>
    /// As <see cref="WhenFollowing"/>, but only while the task is held up by the push now: it also faulted during the
    /// current background chunk or one of the few before it (<see cref="Actors.FaultLocality.HeldUpAtFront"/>). A program that read in order at the front once and then computes on
    /// pages the push keeps ahead of it (python: ~25 faults, most of them early) stops faulting, and the second copier
    /// leaves its CPU to it; a sequential reader that keeps catching up with the push keeps both copiers (lead90).
    /// </summary>
    WhenHeldUp,
}
