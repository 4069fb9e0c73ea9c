namespace LazyActors.Engine.Actors;

/// <summary>How far one restore got (<see cref="EngineStatistics.Phase"/>), as its <see cref="RestoreSupervisor"/> moves on.</summary>
public enum RestorePhase
{
    /// <summary>Listening; the restorer has not connected yet.</summary>
    WaitingForRestorer,

    /// <summary>The restorer connected and hands over one userfaultfd per task.</summary>
    ReceivingTasks,

    /// <summary>"Restore finished" arrived: the tasks run, faults and the background push are served.</summary>
    Serving,

    /// <summary>Every task is complete (or exited).</summary>
    Completed,

    /// <summary>The restore failed (or was cancelled); the outcome says why.</summary>
    Failed,
}
