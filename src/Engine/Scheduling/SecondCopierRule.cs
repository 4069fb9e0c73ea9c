namespace LazyActors.Engine.Scheduling;

/// <summary>The rule of <see cref="SecondCopierWhileTaskRuns"/> for one background chunk.</summary>
public static class SecondCopierRule
{
    /// <summary>
    /// Whether a chunk may use the second copier as far as its task goes: always with
    /// <see cref="SecondCopierWhileTaskRuns.Always"/> or without a run state; with
    /// <see cref="SecondCopierWhileTaskRuns.WhenFollowing"/> also whenever the task reads in order at the push front, with
    /// <see cref="SecondCopierWhileTaskRuns.WhenHeldUp"/> whenever it does so and faulted lately (the caller passes
    /// <see cref="Actors.FaultLocality.HeldUpAtFront"/> as <paramref name="followingFront"/> then); otherwise only while
    /// the task is not running. The run state is asked last (a read of /proc).
    /// </summary>
    public static bool MaySplit(SecondCopierWhileTaskRuns mode, bool followingFront, TaskRunState? runState) => mode switch
    {
        _ when runState is null => true,
        SecondCopierWhileTaskRuns.Always => true,
        SecondCopierWhileTaskRuns.WhenFollowing or SecondCopierWhileTaskRuns.WhenHeldUp when followingFront => true,
        _ => !runState.IsRunning(),
    };
}
