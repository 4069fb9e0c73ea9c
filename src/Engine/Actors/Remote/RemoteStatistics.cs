namespace LazyActors.Engine.Actors.Remote;

/// <summary>
/// Live counters of a remote restore's page source, written by <see cref="RemoteFetchActor"/> and readable from any
/// thread (summary, tests): the connection shape chosen, GETs and their pages, short replies, reconnections.
/// </summary>
public sealed class RemoteStatistics
{
    private string? _connections;
    private long _requests;
    private long _pages;
    private long _shortReplies;
    private int _reconnects;

    /// <summary>How the source is used and why (e.g. one shared connection because a second one was refused), or null before the first connection.</summary>
    public string? Connections => Volatile.Read(ref _connections);

    /// <summary>GETs answered.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Pages received.</summary>
    public long Pages => Interlocked.Read(ref _pages);

    /// <summary>Replies with fewer pages than asked (the rest was asked again).</summary>
    public long ShortReplies => Interlocked.Read(ref _shortReplies);

    /// <summary>Connections made again after a failure.</summary>
    public int Reconnects => Volatile.Read(ref _reconnects);

    internal void Connected(string choice, bool reconnect)
    {
        Volatile.Write(ref _connections, choice);
        if (reconnect)
        {
            Interlocked.Increment(ref _reconnects);
        }
    }

    internal void Reply(int pages, bool isShort)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _pages, pages);
        if (isShort)
        {
            Interlocked.Increment(ref _shortReplies);
        }
    }
}
