namespace LazyActors.Tools.Criu;

/// <summary>The order in which each task of the native workload first-touches its pages after the trigger.</summary>
public enum WorkloadTouch
{
    /// <summary>Ascending page order.</summary>
    Seq,

    /// <summary>A permutation of the pages seeded by the workload's seed and the task index.</summary>
    Rand,

    /// <summary>Pages 0, K, 2K, ... then 1, K+1, ... (K = the stride in pages).</summary>
    Stride,
}
