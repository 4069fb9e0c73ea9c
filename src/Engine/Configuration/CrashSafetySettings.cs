namespace LazyActors.Engine.Configuration;

/// <summary>
/// Surviving a daemon crash (<c>lazy-actors.engine.crash-safety</c>; every default in Reference.conf): whether a
/// guardian holds the restore's descriptors and journal, how often a dead daemon is replaced, and how the tree is
/// stopped when it cannot be.
/// </summary>
public sealed record CrashSafetySettings
{
    /// <summary>Start a guardian (one-shot <c>lazy-pages</c>).</summary>
    public required bool Guardian { get; init; }

    /// <summary>Successors started at most; one more death and the tree is stopped.</summary>
    public required int RestartBudget { get; init; }

    /// <summary>No successor is started this long after the restore began: the tree is stopped instead.</summary>
    public required TimeSpan GiveUpAfter { get; init; }

    /// <summary>How the restored tree is stopped when resuming is impossible.</summary>
    public required TreeStopSignal StopSignal { get; init; }

    internal static CrashSafetySettings Read(RequiredKeys keys) => new()
    {
        Guardian = keys.Boolean("crash-safety.guardian"),
        RestartBudget = keys.Int("crash-safety.restart-budget"),
        GiveUpAfter = keys.Duration("crash-safety.give-up-after"),
        StopSignal = keys.OneOf("crash-safety.stop-signal", ("KILL", TreeStopSignal.Kill), ("TERM", TreeStopSignal.Term), ("STOP", TreeStopSignal.Stop)),
    };

    internal void Validate(Func<string, string, Exception> invalid)
    {
        if (RestartBudget < 0)
        {
            throw invalid("crash-safety.restart-budget", $"must be 0 or more, got {RestartBudget}");
        }

        if (GiveUpAfter <= TimeSpan.Zero)
        {
            throw invalid("crash-safety.give-up-after", $"must be positive, got {GiveUpAfter}");
        }
    }
}
