namespace LazyActors.Tools.Criu;

/// <summary>How the native workload's tasks are parented.</summary>
public enum TreeShape
{
    /// <summary>Task 0 is the parent of every other task.</summary>
    Flat,

    /// <summary>Task i is a child of task (i − 1) / 2: trees of four tasks or more have grandchildren.</summary>
    Binary,
}
