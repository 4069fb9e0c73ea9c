namespace LazyActors.Engine.Remoting.Cluster;

/// <summary>Where a cluster destination's pages came from and what it served its peers (readable from any thread).</summary>
public sealed class FanOutCounters
{
    private long _fromSource;
    private long _fromPeers;
    private long _servedToPeers;
    private int _peersLost;
    private int _sourceSwitches;

    /// <summary>Page bytes received from a source.</summary>
    public long BytesFromSource => Interlocked.Read(ref _fromSource);

    /// <summary>Page bytes received from other destinations.</summary>
    public long BytesFromPeers => Interlocked.Read(ref _fromPeers);

    /// <summary>Page bytes sent to other destinations.</summary>
    public long BytesServedToPeers => Interlocked.Read(ref _servedToPeers);

    /// <summary>Peers given up (unreachable, left, failed a request); what they were to send came from elsewhere.</summary>
    public int PeersLost => Volatile.Read(ref _peersLost);

    /// <summary>Times the destination moved to another source of the same checkpoint.</summary>
    public int SourceSwitches => Volatile.Read(ref _sourceSwitches);

    internal void Received(bool fromPeer, long bytes) => Interlocked.Add(ref fromPeer ? ref _fromPeers : ref _fromSource, bytes);

    internal void Served(long bytes) => Interlocked.Add(ref _servedToPeers, bytes);

    internal void PeerLost() => Interlocked.Increment(ref _peersLost);

    internal void SourceSwitched() => Interlocked.Increment(ref _sourceSwitches);
}
