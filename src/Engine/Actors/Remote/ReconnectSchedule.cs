using LazyActors.Engine.Configuration;

namespace LazyActors.Engine.Actors.Remote;

/// <summary>
/// When a fetcher tries its lost source again: <c>remote.reconnect-backoff-min</c> first, doubling after each failed
/// attempt up to <c>remote.reconnect-backoff-max</c>, back to the minimum once the source serves again. One schedule for
/// both transports (CRIU's page-server protocol and the Akka one). Not thread-safe: an actor's own state.
/// </summary>
internal sealed class ReconnectSchedule(RemoteFetchSettings settings)
{
    private TimeSpan _next = settings.ReconnectBackoffMin;

    /// <summary>The delay before the next attempt; the one after it doubles (bounded).</summary>
    public TimeSpan Next()
    {
        var delay = _next;
        _next = TimeSpan.FromTicks(Math.Min(_next.Ticks * 2, settings.ReconnectBackoffMax.Ticks));
        return delay;
    }

    /// <summary>The source serves again: the next loss starts from the minimum.</summary>
    public void Reset() => _next = settings.ReconnectBackoffMin;
}
