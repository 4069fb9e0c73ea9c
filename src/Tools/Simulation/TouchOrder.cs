namespace LazyActors.Tools.Simulation;

/// <summary>In which order a simulated task first-touches its lazy memory after "restore finished".</summary>
public enum TouchOrder
{
    /// <summary>Every readable page in a seeded random order (scattered faults).</summary>
    Rand,

    /// <summary>Every readable page in ascending address order.</summary>
    Seq,

    /// <summary>No touching: the task only waits until the daemon has pushed everything, then verifies.</summary>
    None,
}
