namespace LazyActors.Engine.Scheduling;

/// <summary>
/// How background copies (the push of pages nobody faulted on yet) are scheduled, apart from the copies that serve a
/// fault. A fault's copy always follows <see cref="GatePriority"/>; a background slice may run below the restorer and the
/// restored tasks, so that the push uses the CPUs they leave idle instead of taking CPUs from them.
/// </summary>
public enum BackgroundPriority
{
    /// <summary>As the gate says: with <see cref="GatePriority.Ceiling"/> every background slice runs as SCHED_FIFO 1.</summary>
    Gate,

    /// <summary>
    /// Each background slice runs as SCHED_OTHER at nice 0 (the restored tasks' own priority) and the thread goes back to
    /// the engine's nice after it; the second copier stays at nice 0. A fault that waits for such a slice lends its
    /// copier SCHED_FIFO 1 (and the second copier, if it holds a half) until the slice ends.
    /// </summary>
    Normal,

    /// <summary>
    /// Each background slice runs as SCHED_IDLE (only on a CPU nothing else wants) and the thread goes back to
    /// SCHED_OTHER at the engine's nice after it; the second copier stays SCHED_IDLE. A fault that waits for such a slice
    /// lends its copiers SCHED_FIFO 1 as with <see cref="Normal"/>.
    /// </summary>
    Idle,
}
