namespace LazyActors.Tools.Bench;

/// <summary>What restores the bench's checkpoints (<c>bench --restorer sim|criu</c>).</summary>
public enum BenchRestorer
{
    /// <summary>The restore simulator on synthetic checkpoints (events and faults CRIU cannot show).</summary>
    Simulator,

    /// <summary>Real CRIU: <c>criu dump</c> of real process trees and <c>criu restore --lazy-pages</c>.</summary>
    Criu,
}
