using LazyActors.Engine.Protocol.Tls;

namespace LazyActors.Engine.Protocol.Client;

/// <summary>How a <see cref="PageServerClient"/> connects and how long it waits.</summary>
public sealed record PageServerClientOptions
{
    /// <summary>Defaults: 64 requests in flight, 30 s per reply, 10 s to connect, no TLS.</summary>
    public static PageServerClientOptions Default { get; } = new();

    /// <summary>
    /// Requests sent and not yet answered, at most. A caller asking for more waits (asynchronously) until a reply
    /// frees a place: that is the back-pressure a fetcher sees.
    /// </summary>
    public int MaxInFlight { get; init; } = 64;

    /// <summary>
    /// How long one reply (header and data, or the close status) may take from the moment it is next in line; past it the
    /// peer counts as stalled and the connection fails. <see cref="Timeout.InfiniteTimeSpan"/> waits forever, as CRIU does.
    /// </summary>
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Bound on name resolution, TCP connect and the TLS handshake together.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Called first on the connection's reader thread (each connection reads its replies on a thread of its own, with
    /// blocking reads): a place to give that thread a scheduling priority.
    /// </summary>
    public Action? ReaderThreadStarted { get; init; }

    /// <summary>
    /// True: a GET's awaiting continuation runs on the reader thread as its reply completes (no thread-pool hop; it must
    /// only hand the result on, such as telling an actor). False (default): on the thread pool.
    /// </summary>
    public bool InlineCompletions { get; init; }

    /// <summary>
    /// Plain TCP only: a reply's data of at least this many bytes is read once this much of it (or all that is left of
    /// it) is in the socket (SO_RCVLOWAT): the reader thread wakes once per this many bytes instead of once per segment
    /// that arrives. 0 (default): off. Smaller reads (headers, a fault's pages) always wake at the first byte.
    /// </summary>
    public int ReceiveLowWater { get; init; }

    /// <summary>
    /// Plain TCP connections this client makes itself: replies are read with one blocking recv(MSG_WAITALL) each and
    /// requests written with blocking sends, in system calls of the reader's (and sender's) own, instead of through
    /// .NET's socket engine (its epoll thread and a wake-up hand-off per wait). See <see cref="DirectSocketIo"/>.
    /// False (default): .NET's streams.
    /// </summary>
    public bool DirectIo { get; init; }

    /// <summary>TLS credentials (CRIU's <c>--tls</c>), or null for plain TCP. Load once and share across reconnects.</summary>
    public PageServerTlsCredentials? Tls { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxInFlight, 1, nameof(MaxInFlight));
        ArgumentOutOfRangeException.ThrowIfNegative(ReceiveLowWater, nameof(ReceiveLowWater));
        if (ReplyTimeout <= TimeSpan.Zero && ReplyTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(ReplyTimeout), ReplyTimeout, "must be positive or infinite");
        }

        if (ConnectTimeout <= TimeSpan.Zero && ConnectTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), ConnectTimeout, "must be positive or infinite");
        }
    }
}
