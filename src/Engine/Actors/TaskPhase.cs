namespace LazyActors.Engine.Actors;

/// <summary>Where a task (or fork child) stands.</summary>
public enum TaskPhase
{
    /// <summary>Its uffd arrived; faults are served.</summary>
    Serving,

    /// <summary>Every lazy page was copied (or dropped); its uffd is closed.</summary>
    Complete,

    /// <summary>The process exited (ESRCH/ENOSPC/ENOMEM); nothing more to do.</summary>
    Exited,

    /// <summary>An unrecoverable error stopped serving it.</summary>
    Failed,
}
