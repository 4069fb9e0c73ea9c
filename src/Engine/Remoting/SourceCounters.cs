namespace LazyActors.Engine.Remoting;

/// <summary>What a <see cref="PageSourceActor"/> served (readable from any thread).</summary>
public sealed class SourceCounters
{
    private long _faultReplies;
    private long _bulkReplies;
    private long _bytes;
    private long _refused;
    private int _destinations;

    /// <summary>Replies to fault requests.</summary>
    public long FaultReplies => Interlocked.Read(ref _faultReplies);

    /// <summary>Replies to bulk requests.</summary>
    public long BulkReplies => Interlocked.Read(ref _bulkReplies);

    /// <summary>Page bytes sent.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Requests for pages this source does not hold.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Distinct destination systems seen.</summary>
    public int Destinations => Volatile.Read(ref _destinations);

    internal void Served(bool fault, int bytes)
    {
        Interlocked.Increment(ref fault ? ref _faultReplies : ref _bulkReplies);
        Interlocked.Add(ref _bytes, bytes);
    }

    internal void Refusal() => Interlocked.Increment(ref _refused);

    internal void Destination() => Interlocked.Increment(ref _destinations);
}
