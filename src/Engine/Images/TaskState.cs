namespace LazyActors.Engine.Images;

/// <summary>A task's state as recorded in <c>core-&lt;pid&gt;.img</c> (<c>TaskCoreEntry.task_state</c>).</summary>
public enum TaskState
{
    /// <summary>No core image, or no task_state in it.</summary>
    Unknown = 0,

    /// <summary>TASK_ALIVE.</summary>
    Alive = 1,

    /// <summary>TASK_DEAD: a zombie; it has no mm, pagemap or pages.</summary>
    Dead = 2,

    /// <summary>TASK_STOPPED.</summary>
    Stopped = 3,
}
