using Akka.Actor;

namespace LazyActors.Engine.Actors.Internal;

/// <summary>Base of the engine's actors: their threads get the engine's scheduling priority (<see cref="EngineThreadPriority"/>).</summary>
internal abstract class EngineActor : ReceiveActor
{
    protected override bool AroundReceive(Receive receive, object message)
    {
        EngineThreadPriority.EnsureApplied();
        return base.AroundReceive(receive, message);
    }
}
