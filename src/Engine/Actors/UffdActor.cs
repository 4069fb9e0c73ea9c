using Akka.Actor;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Protocol of the per-task actor that owns one userfaultfd and its <see cref="TaskRangeBook"/>: it answers page
/// faults (zero page, or fetch through the page cache then UFFDIO_COPY), applies FORK/REMAP/REMOVE/UNMAP, copies the
/// background chunks the pusher asks for, and stops once the task is complete or gone.
/// </summary>
public static class UffdActor
{
    /// <summary>Props of a task actor. Its parent (the supervisor) receives <see cref="TaskEnded"/> and <see cref="ForkChildBorn"/>.</summary>
    /// <param name="task">Who it serves and with what.</param>
    /// <param name="cache">The <see cref="PageCacheActor"/>.</param>
    /// <param name="pusher">The <see cref="BackgroundPusherActor"/> (receives chunk reports).</param>
    /// <param name="hub">Delivers the uffd's messages.</param>
    /// <param name="settings">Tuning.</param>
    /// <param name="direct">Optional fast path: pages this source hands out at once (zero-copy) skip the page cache.</param>
    /// <param name="statistics">Counters of direct reads (with <paramref name="direct"/>).</param>
    public static Props Props(TaskSpec task, IActorRef cache, IActorRef pusher, IUffdHub hub, EngineSettings settings,
        IPageSource? direct = null, EngineStatistics? statistics = null) =>
        Akka.Actor.Props.Create(() => new Internal.UffdActor(task, cache, pusher, hub, settings, direct, statistics)).WithDispatcher(EngineSettings.DispatcherId);

    /// <summary>What a task actor starts with.</summary>
    /// <param name="Pid">Pid whose pages are fetched (a fork child uses its parent's).</param>
    /// <param name="Uffd">The task's userfaultfd; the actor owns and disposes it.</param>
    /// <param name="Book">Pending ranges (the actor owns it from now on).</param>
    /// <param name="Progress">Counters to update.</param>
    /// <param name="RestoreFinished">True when "restore finished" already arrived (fork children born after it).</param>
    public sealed record TaskSpec(int Pid, IUffd Uffd, TaskRangeBook Book, TaskProgress Progress, bool RestoreFinished)
        : INoSerializationVerificationNeeded;

    /// <summary>A batch of messages read from the uffd by the epoll reader.</summary>
    public sealed record Events(UffdMsg[] Messages) : INoSerializationVerificationNeeded;

    /// <summary>Reading the uffd failed (the reader stopped watching it).</summary>
    public sealed record ReadFailed(Exception Error) : INoSerializationVerificationNeeded;

    /// <summary>The restorer sent "restore finished": the task may complete (and background chunks may come).</summary>
    public sealed class RestoreFinished : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly RestoreFinished Instance = new();

        private RestoreFinished()
        {
        }
    }

    /// <summary>From the pusher: claim at most <paramref name="MaxBytes"/> of pending memory and copy it.</summary>
    public sealed record PushChunk(ulong MaxBytes) : INoSerializationVerificationNeeded;

    /// <summary>To the pusher: a chunk was copied (<paramref name="Pages"/> pages); faults seen since the previous report.</summary>
    public sealed record ChunkFinished(IActorRef Task, ulong Bytes, long Pages, int FaultsSince) : INoSerializationVerificationNeeded;

    /// <summary>To the pusher: nothing pending any more (in-flight faults may still be completing).</summary>
    public sealed record NothingToPush(IActorRef Task, ulong Bytes) : INoSerializationVerificationNeeded;

    /// <summary>To the supervisor: the task needs no more service.</summary>
    public sealed record TaskEnded(int Pid, string Label, TaskPhase Phase, string? Reason) : INoSerializationVerificationNeeded;

    /// <summary>To the supervisor: a FORK event created a child uffd; spawn a task actor for it.</summary>
    public sealed record ForkChildBorn(int Pid, string ParentLabel, IUffd Uffd, TaskRangeBook Book, long TotalPages)
        : INoSerializationVerificationNeeded;
}
