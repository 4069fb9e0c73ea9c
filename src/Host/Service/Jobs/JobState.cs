namespace LazyActors.Host.Service.Jobs;

/// <summary>Where a job is.</summary>
public enum JobState
{
    /// <summary>Listening on its socket; no restorer yet.</summary>
    Listening,

    /// <summary>The restorer connected and hands over its tasks.</summary>
    Restoring,

    /// <summary>"Restore finished": the tasks run and their pages are served.</summary>
    Serving,

    /// <summary>Every task complete.</summary>
    Completed,

    /// <summary>Ended with an error.</summary>
    Failed,

    /// <summary>Cancelled (by a client, or by a drain that ran out of time).</summary>
    Cancelled,
}
