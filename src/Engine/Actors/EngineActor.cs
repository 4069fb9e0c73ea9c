using Akka.Actor;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Base of the engine's actors: the dispatcher threads they run on get the engine's scheduling priority (nice value,
/// see <c>lazy-actors.engine.scheduling</c>) the first time one of them handles a message there. With
/// <c>gate-priority = ceiling-held</c> every actor but a task's first gives back the real-time priority its thread may
/// have kept from a task's copy.
/// </summary>
public abstract class EngineActor : ReceiveActor
{
    /// <inheritdoc />
    protected override bool AroundReceive(Receive receive, object message)
    {
        EngineThreadPriority.EnsureApplied();
        if (this is not UffdActor)
        {
            // Only a task actor's copies (and their bookkeeping) may run on a real-time priority a copy left behind.
            Uffd.UffdEventBarrier.ReleaseHeldCeiling();
        }

        return base.AroundReceive(receive, message);
    }
}
