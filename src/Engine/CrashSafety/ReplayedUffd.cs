using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.CrashSafety;

/// <summary>One uffd rebuilt from the journal: who it serves and what it still lacks.</summary>
/// <param name="Id">Journal id.</param>
/// <param name="Pid">The pid whose pages it is served (a fork child's parent's).</param>
/// <param name="Label">Task label as the dead daemon logged it (fork children <c>PARENT-forkN</c>).</param>
/// <param name="IsForkChild">Born from a FORK event.</param>
/// <param name="Book">Pending ranges after the events and the progress were replayed.</param>
/// <param name="Boundaries">The dump-time VMA boundaries no copy crosses.</param>
/// <param name="RegistrationChecks">A task's first lazy page of each lazy VMA (empty for fork children).</param>
/// <param name="EndedPhase">Set when the dead daemon had ended it (<see cref="Actors.TaskPhase"/> as a number).</param>
/// <param name="EndReason">Why it ended, when it did.</param>
public sealed record ReplayedUffd(
    int Id,
    int Pid,
    string Label,
    bool IsForkChild,
    TaskRangeBook Book,
    VmaBoundaries Boundaries,
    IReadOnlyList<ulong> RegistrationChecks,
    int? EndedPhase,
    string? EndReason);
