namespace LazyActors.Engine.Protocol.Server;

/// <summary>How a page-server session ended.</summary>
public enum PageServerSessionEnd
{
    /// <summary>PS_IOV_CLOSE answered with status 0, then the client's EOF.</summary>
    Closed,

    /// <summary>PS_IOV_FORCE_CLOSE answered with status 0.</summary>
    ForceClosed,

    /// <summary>The client closed the connection between requests (CRIU counts that as success too).</summary>
    PeerClosed,

    /// <summary>A request the server cannot answer (pages it does not hold, a non-lazy command): logged, closed without a reply.</summary>
    BadRequest,

    /// <summary>The TLS handshake failed or the client's certificate was refused.</summary>
    TlsRefused,

    /// <summary>I/O error, reset, EOF inside a request, an idle or close timeout, or data after the close.</summary>
    Failed,

    /// <summary>The server was stopped while the session ran.</summary>
    Stopped,
}

/// <summary>The outcome of one session: who, how it ended, how much was served, and the error if any.</summary>
public sealed record PageServerSessionResult(string Peer, PageServerSessionEnd End, long Requests, long PagesSent, string? Error)
{
    /// <summary>True for the endings CRIU's page server reports as success.</summary>
    public bool Succeeded => End is PageServerSessionEnd.Closed or PageServerSessionEnd.ForceClosed or PageServerSessionEnd.PeerClosed;

    /// <summary>CPU time the session's thread spent serving it (reading requests, sendfile, the kernel's TCP work done in
    /// its context: on loopback that includes the receiving side's protocol processing); zero when unknown.</summary>
    public TimeSpan Cpu { get; init; }
}
