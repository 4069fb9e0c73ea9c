using Akka.Actor;
using LazyActors.Engine.Actors;

namespace LazyActors.Engine.Hosting;

/// <summary>
/// What every <see cref="RestoreJob"/> of one long-lived actor system shares: the system (its engine dispatcher and
/// scheduling settings), the <see cref="RestoreJobsActor"/> their supervisors are children of, and the checkpoints
/// opened for them (<see cref="SharedCheckpoints"/>). The engine's JIT warm-up runs with the first job only.
/// </summary>
public sealed class RestoreJobHost
{
    private int _warmedUp;

    /// <summary>Jobs of <paramref name="system"/>, under <paramref name="jobs"/> (<see cref="RestoreJobsActor.Props"/>).</summary>
    public RestoreJobHost(ActorSystem system, IActorRef jobs, SharedCheckpoints checkpoints)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(checkpoints);
        System = system;
        Jobs = jobs;
        Checkpoints = checkpoints;
    }

    /// <summary>The actor system the jobs run in.</summary>
    public ActorSystem System { get; }

    /// <summary>The parent of the jobs' supervisors.</summary>
    public IActorRef Jobs { get; }

    /// <summary>The checkpoints (and page cache) the jobs read.</summary>
    public SharedCheckpoints Checkpoints { get; }

    /// <summary>Longest wait for a job's actors to stop once its restore ended.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Whether the first job runs the engine's JIT warm-up (off for a host of one job whose process already
    /// warmed up in another host).</summary>
    public bool WarmUp { get; init; } = true;

    /// <summary>True for the first caller only (when <see cref="WarmUp"/>): that job runs the warm-up.</summary>
    internal bool ClaimWarmUp() => WarmUp && Interlocked.Exchange(ref _warmedUp, 1) == 0;
}
