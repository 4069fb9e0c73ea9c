using System.Net.Sockets;
using LazyActors.Engine.Protocol.Tls;

namespace LazyActors.Engine.Protocol.Client;

/// <summary>
/// Where a lazy client finds its page server, as <c>criu lazy-pages --page-server</c> is told: <c>--address</c> and
/// <c>--port</c> (connect, and connect again after a failure), or an inherited connected socket (<c>--ps-socket</c>:
/// usable once, closed with PS_IOV_FORCE_CLOSE), with TLS credentials when <c>--tls</c> is on.
/// </summary>
public sealed class PageServerEndpoint
{
    private Socket? _inherited;

    private PageServerEndpoint(string? host, int port, Socket? inherited, string? tlsPeerName, PageServerTlsCredentials? tls)
    {
        Host = host;
        Port = port;
        _inherited = inherited;
        IsInherited = inherited is not null;
        TlsPeerName = tlsPeerName;
        Tls = tls;
    }

    /// <summary>The host as given (IP literal or name), or null for an inherited socket.</summary>
    public string? Host { get; }

    /// <summary>The port, or 0 for an inherited socket.</summary>
    public int Port { get; }

    /// <summary>True for an inherited socket: it cannot be connected again, and is closed with PS_IOV_FORCE_CLOSE.</summary>
    public bool IsInherited { get; }

    /// <summary>True when a lost connection can be replaced by a new one.</summary>
    public bool CanReconnect => !IsInherited;

    /// <summary>The name the server's TLS certificate must carry (the host by default).</summary>
    public string? TlsPeerName { get; }

    /// <summary>TLS credentials, or null for plain TCP.</summary>
    public PageServerTlsCredentials? Tls { get; }

    /// <summary>A server reached by <paramref name="host"/> (IP literal or name) and <paramref name="port"/>.</summary>
    public static PageServerEndpoint Tcp(string host, int port, PageServerTlsCredentials? tls = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        return new PageServerEndpoint(host, port, null, host, tls);
    }

    /// <summary>
    /// A connected socket handed over by another process (CRIU's <c>--ps-socket FD</c>); the endpoint owns it.
    /// <paramref name="tlsPeerName"/> is the name the server's certificate must carry (CRIU uses <c>--address</c>).
    /// </summary>
    public static PageServerEndpoint InheritedSocket(Socket socket, string? tlsPeerName = null, PageServerTlsCredentials? tls = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        return new PageServerEndpoint(null, 0, socket, tlsPeerName, tls);
    }

    /// <summary>
    /// Opens a connection: a new TCP connection (plus TLS), or the inherited socket the first time only.
    /// </summary>
    /// <exception cref="PageServerException">No connection (refused, unreachable, TLS refused, or an inherited socket
    /// already used).</exception>
    public Task<PageServerClient> ConnectAsync(PageServerClientOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        options = options with { Tls = Tls };
        if (!IsInherited)
        {
            return PageServerClient.ConnectAsync(Host!, Port, options, cancellationToken);
        }

        var socket = Interlocked.Exchange(ref _inherited, null)
            ?? throw new PageServerException(ToString(), "the inherited socket was used already and cannot be connected again");
        return PageServerClient.AttachAsync(socket, TlsPeerName, options, cancellationToken);
    }

    /// <summary>host:port (IPv6 in brackets), or "inherited socket".</summary>
    public override string ToString() => IsInherited
        ? "inherited socket (--ps-socket)"
        : Host!.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
