using Akka.Actor;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Pages;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Protocol of the one page cache of a restore. It turns <see cref="Fetch"/> requests from task actors into reads
/// on an <see cref="IPageSource"/>: fault requests always before background ones, a request inside a read already in
/// flight joins it, requests queued together for the same pid are coalesced into few reads (PageRunCoalescer), many
/// reads run at once and complete in any order. Each requester gets a <see cref="PageData"/> it must dispose.
/// </summary>
public static class PageCacheActor
{
    /// <summary>Props of the cache over <paramref name="source"/>.</summary>
    public static Props Props(IPageSource source, EngineSettings settings, EngineStatistics statistics) =>
        Akka.Actor.Props.Create(() => new Internal.PageCacheActor(source, settings, statistics)).WithDispatcher(EngineSettings.DispatcherId);

    /// <summary>Who waits: a faulting thread, or background transfer.</summary>
    public enum FetchPriority
    {
        /// <summary>A thread is blocked on these pages.</summary>
        Fault,

        /// <summary>Background transfer; yields to faults.</summary>
        Background,
    }

    /// <summary>Asks for <paramref name="Pages"/> pages of <paramref name="Pid"/> at dump address <paramref name="DumpAddress"/>.
    /// The reply (<see cref="Fetched"/> or <see cref="FetchFailed"/>) goes to the sender and carries <paramref name="RequestId"/>.</summary>
    public sealed record Fetch(int Pid, ulong DumpAddress, int Pages, FetchPriority Priority, long RequestId)
        : INoSerializationVerificationNeeded;

    /// <summary>The data of request <paramref name="RequestId"/>; the receiver disposes <paramref name="Data"/>.</summary>
    public sealed record Fetched(long RequestId, PageData Data) : INoSerializationVerificationNeeded;

    /// <summary>Request <paramref name="RequestId"/> cannot be served.</summary>
    public sealed record FetchFailed(long RequestId, ulong DumpAddress, int Pages, Exception Error) : INoSerializationVerificationNeeded;
}
