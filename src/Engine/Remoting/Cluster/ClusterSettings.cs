using Akka.Configuration;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Remoting.Cluster;

/// <summary>The cluster part of the Akka transport (<c>lazy-actors.cluster</c>; defaults in Remoting/Cluster/Cluster.conf).</summary>
public sealed record ClusterSettings
{
    /// <summary>Pages of one fan-out chunk.</summary>
    public required int ChunkPages { get; init; }

    /// <summary>How long a finished destination keeps serving peers that still restore.</summary>
    public required TimeSpan PeerLinger { get; init; }

    /// <summary>How often newly held chunks are published.</summary>
    public required TimeSpan PublishInterval { get; init; }

    /// <summary>The settings in <paramref name="config"/> (an actor system's configuration built by <see cref="ClusterTransport.SystemConfig"/>).</summary>
    /// <exception cref="ConfigurationException">A key is missing or out of range (named).</exception>
    public static ClusterSettings Read(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var section = config.GetConfig("lazy-actors.cluster") ?? throw new ConfigurationException("lazy-actors.cluster is missing");
        long chunk = section.GetByteSize("chunk") ?? throw new ConfigurationException("lazy-actors.cluster.chunk is missing");
        if (chunk < (long)PageGeometry.PageSize || chunk % (long)PageGeometry.PageSize != 0 || chunk > 64L << 20)
        {
            throw new ConfigurationException($"lazy-actors.cluster.chunk must be a multiple of 4 KiB between 4 KiB and 64 MiB, got {chunk}");
        }

        var linger = section.GetTimeSpan("peer-linger", TimeSpan.FromSeconds(8));
        var publish = section.GetTimeSpan("publish-interval", TimeSpan.FromMilliseconds(100));
        if (linger < TimeSpan.Zero || publish <= TimeSpan.Zero)
        {
            throw new ConfigurationException("lazy-actors.cluster.peer-linger must not be negative and publish-interval must be positive");
        }

        return new ClusterSettings { ChunkPages = (int)(chunk >> PageGeometry.PageShift), PeerLinger = linger, PublishInterval = publish };
    }
}
