using LazyActors.Engine.Protocol.Tls;

namespace LazyActors.Engine.Protocol.Server;

/// <summary>How a lazy page server accepts and ends sessions.</summary>
public sealed record LazyPageServerOptions
{
    /// <summary>Defaults: plain TCP, 10 s handshakes, 10 s to wait for EOF after PS_IOV_CLOSE, 10 s to drain on stop.</summary>
    public static LazyPageServerOptions Default { get; } = new();

    /// <summary>
    /// TLS credentials (CRIU's <c>--tls</c>), or null for plain TCP. With TLS every client must present a certificate
    /// signed by a trusted CA; one that does not is refused and logged.
    /// </summary>
    public PageServerTlsCredentials? Tls { get; init; }

    /// <summary>
    /// The name client certificates must carry when the credentials verify names: CRIU checks a client against the
    /// server's own <c>--address</c>, and checks no name when the server was started without one (null here).
    /// </summary>
    public string? TlsClientName { get; init; }

    /// <summary>Bound on one TLS handshake; a client that does not finish it in time is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// After answering PS_IOV_CLOSE the server waits for the client's EOF (so the TIME_WAIT lands on the client, as in
    /// CRIU) at most this long.
    /// </summary>
    public TimeSpan CloseLingerTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a session may wait for its next request; infinite by default, as CRIU waits (a restored tree may touch
    /// nothing for a long time). A graceful stop ends idle sessions regardless.
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// The nice value of each session's thread (-20..19), or null to leave it as inherited. Opt-in: a lower value lets
    /// the thread that answers a GET preempt busier threads on the client's CPU sooner (CRIU's own daemon polls and
    /// keeps a CPU busy); negative values need CAP_SYS_NICE, and a refusal is logged once per session and ignored.
    /// Measured in docs/benchmarks.md ("ps60").
    /// </summary>
    public int? SessionNice { get; init; }
}
