using Akka.Actor;
using LazyActors.Engine.Configuration;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Protocol of the background pusher: after "restore finished" it keeps every task busy with background chunks at the
/// same time (round-robin, at most K chunks in flight per task and a global byte budget), chunks growing from
/// <see cref="EngineSettings.ChunkInitialBytes"/> to <see cref="EngineSettings.ChunkMaxBytes"/> and shrinking back
/// when the task faulted meanwhile. Task actors do the claiming and copying; faults always overtake chunks there and
/// in the page cache.
/// </summary>
public static class BackgroundPusherActor
{
    /// <summary>Props of the pusher.</summary>
    public static Props Props(EngineSettings settings) =>
        Akka.Actor.Props.Create(() => new Internal.BackgroundPusherActor(settings)).WithDispatcher(EngineSettings.DispatcherId);

    /// <summary>A task actor to push to (watched; forgotten when it stops).</summary>
    public sealed record AddTask(IActorRef Task) : INoSerializationVerificationNeeded;

    /// <summary>"Restore finished" arrived: start pushing.</summary>
    public sealed class Start : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly Start Instance = new();

        private Start()
        {
        }
    }
}
