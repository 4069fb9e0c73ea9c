using System.Collections.Concurrent;

namespace LazyActors.Engine.Remoting;

/// <summary>What a <see cref="PageSourceActor"/> served (readable from any thread).</summary>
public sealed class SourceCounters
{
    private readonly ConcurrentDictionary<string, long> _bytesTo = new(StringComparer.Ordinal);
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

    /// <summary>Page bytes sent to each destination (its actor system's address), so a fan-out's cost per destination shows.</summary>
    public IReadOnlyDictionary<string, long> BytesByDestination => _bytesTo;

    internal void ServedTo(string destination, int bytes) => _bytesTo.AddOrUpdate(destination, bytes, (_, sum) => sum + bytes);

    internal void Refusal() => Interlocked.Increment(ref _refused);

    internal void Destination() => Interlocked.Increment(ref _destinations);
}
