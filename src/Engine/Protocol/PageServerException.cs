namespace LazyActors.Engine.Protocol;

/// <summary>
/// The one failure of a page-server connection: EOF or reset mid-reply, a malformed or out-of-order reply, a peer that
/// stalled past the reply deadline, a failed TLS handshake, a non-zero close status. It names the peer (address:port)
/// and what was in flight. When a connection fails, every request still pending on it fails with its own instance
/// (<see cref="Request"/> says which), so a caller can reconnect and re-issue exactly those.
/// </summary>
public sealed class PageServerException : Exception
{
    /// <summary>Creates the exception for <paramref name="peer"/>; <paramref name="request"/> is the request it fails, if any.</summary>
    public PageServerException(string peer, string message, Exception? innerException = null, PageServerRequest? request = null)
        : base(Compose(peer, message, request), innerException)
    {
        Peer = peer;
        Request = request;
        Reason = message;
    }

    /// <summary>The peer as address:port (or name:port [address]).</summary>
    public string Peer { get; }

    /// <summary>The request this instance fails, or null for a failure of the connection as a whole.</summary>
    public PageServerRequest? Request { get; }

    /// <summary>What went wrong, without the peer and request prefix.</summary>
    public string Reason { get; }

    private static string Compose(string peer, string message, PageServerRequest? request) =>
        request is { } r ? $"page server {peer}: {message} (failed request: {r})" : $"page server {peer}: {message}";
}
