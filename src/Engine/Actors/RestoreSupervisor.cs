using Akka.Actor;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Pages;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Protocol of the supervisor of one restore: it runs the socket handshake (on its own thread), creates one
/// <see cref="UffdActor"/> per task and fork child plus the <see cref="PageCacheActor"/> and the
/// <see cref="BackgroundPusherActor"/>, stops only the task that fails, and completes the restore's result once every
/// task is complete (exit code 0) or on a fatal error (non-zero, with the reason).
/// </summary>
public static class RestoreSupervisor
{
    /// <summary>Props of the supervisor.</summary>
    /// <param name="restore">What it needs.</param>
    public static Props Props(Restore restore) => Akka.Actor.Props.Create(() => new Internal.RestoreSupervisor(restore)).WithDispatcher(EngineSettings.DispatcherId);

    /// <summary>Everything one restore needs.</summary>
    /// <param name="Settings">Tuning and paths.</param>
    /// <param name="Checkpoint">The opened images (pstree entry count, lazy ranges per pid).</param>
    /// <param name="Source">Page data.</param>
    /// <param name="Hub">Routes uffd messages to task actors.</param>
    /// <param name="Listener">The listening lazy-pages.socket; the supervisor's handshake thread owns it.</param>
    /// <param name="Statistics">Live counters.</param>
    /// <param name="Completion">Completed with the outcome.</param>
    public sealed record Restore(
        EngineSettings Settings,
        Checkpoint Checkpoint,
        IPageSource Source,
        IUffdHub Hub,
        SafeFdHandle Listener,
        EngineStatistics Statistics,
        TaskCompletionSource<RestoreOutcome> Completion) : INoSerializationVerificationNeeded;

    /// <summary>How a restore ended.</summary>
    /// <param name="ExitCode">0 when every task was completed (or exited), 1 otherwise.</param>
    /// <param name="Error">Why it failed.</param>
    public sealed record RestoreOutcome(int ExitCode, string? Error);

    /// <summary>From the handshake thread: a live task and its uffd.</summary>
    public sealed record TaskUffdReceived(int Pid, SafeFdHandle Uffd) : INoSerializationVerificationNeeded;

    /// <summary>From the handshake thread: a zombie entry.</summary>
    public sealed record ZombieReceived(int Pid) : INoSerializationVerificationNeeded;

    /// <summary>From the handshake thread: the restorer connected.</summary>
    public sealed class RestorerConnected : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly RestorerConnected Instance = new();

        private RestorerConnected()
        {
        }
    }

    /// <summary>From the handshake thread: "restore finished" arrived.</summary>
    public sealed class RestoreFinished : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly RestoreFinished Instance = new();

        private RestoreFinished()
        {
        }
    }

    /// <summary>Fatal: the handshake failed or the epoll reader died.</summary>
    public sealed record Fatal(string Reason) : INoSerializationVerificationNeeded;
}
