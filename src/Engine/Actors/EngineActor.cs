using Akka.Actor;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Base of the engine's actors: the dispatcher threads they run on get the engine's scheduling priority (nice value,
/// see <c>lazy-actors.engine.scheduling</c>) the first time one of them handles a message there.
/// </summary>
public abstract class EngineActor : ReceiveActor
{
    /// <inheritdoc />
    protected override bool AroundReceive(Receive receive, object message)
    {
        EngineThreadPriority.EnsureApplied();
        return base.AroundReceive(receive, message);
    }
}
