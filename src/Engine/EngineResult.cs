using LazyActors.Engine.Actors;

namespace LazyActors.Engine;

/// <summary>How a <see cref="LazyPagesEngine"/> run ended.</summary>
/// <param name="ExitCode">0 when every task was complete; 1 on a fatal error or a failed task; 130 when cancelled.</param>
/// <param name="Error">What went wrong, or null.</param>
/// <param name="Statistics">Counters of the restore.</param>
/// <param name="Elapsed">From <see cref="LazyPagesEngine.RunAsync(CancellationToken)"/> to the end.</param>
public sealed record EngineResult(int ExitCode, string? Error, EngineStatistics Statistics, TimeSpan Elapsed)
{
    /// <summary>True for exit code 0.</summary>
    public bool Succeeded => ExitCode == 0;
}
