using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Actors.Remote;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol.Tls;
using LazyActors.Engine.Remoting;
using LazyActors.Engine.Remoting.Cluster;
using LazyActors.Engine.Remoting.Wire;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>lazy-pages --page-server --transport akka</c>: the engine's actor system, with remoting towards the source, and
/// the source's checkpoint, described by it over that system before the daemon listens (so a restorer never meets a
/// daemon that cannot serve it). The same system then serves the restore: one actor system and one association, where
/// a short-lived system for the metadata used to cost a second start-up.
/// </summary>
internal sealed class AkkaSource
{
    private AkkaSource(ActorPath path, CheckpointMetadata metadata, Checkpoint checkpoint, ActorSystem system)
    {
        Path = path;
        Metadata = metadata;
        Checkpoint = checkpoint;
        System = system;
    }

    /// <summary>The source's page source actor.</summary>
    public ActorPath Path { get; }

    /// <summary>The description as the source sent it (crash safety keeps it: <see cref="Engine.CrashSafety.DescribedCheckpoint"/>).</summary>
    public CheckpointMetadata Metadata { get; }

    /// <summary>The model the source described (owned by the engine once listening).</summary>
    public Checkpoint Checkpoint { get; }

    /// <summary>The engine's actor system (owned by the engine once listening).</summary>
    public ActorSystem System { get; }

    /// <summary>A cluster restore's fetcher (<see cref="ClusterFetchActor"/>); null: the plain transport's.</summary>
    public Func<RemotePageSource, RemoteStatistics, Props>? Fetcher { get; private init; }

    /// <summary>Builds the engine's system with remoting (over <paramref name="akka"/>) and asks the source for its checkpoint.</summary>
    /// <exception cref="ArgumentException">Bad options.</exception>
    /// <exception cref="ImageFormatException">The source did not describe a usable checkpoint (named).</exception>
    public static async Task<AkkaSource> DescribeAsync(string? address, int? port, int? psSocket, PageServerTlsSettings? tls, string? checkpointName, EngineSettings settings, Config akka)
    {
        if (psSocket is not null)
        {
            throw new ArgumentException("--transport akka takes --address and --port (or an akka.tcp:// address); --ps-socket is for the criu transport");
        }

        if (string.IsNullOrEmpty(address))
        {
            throw new ArgumentException("--page-server --transport akka needs --address (the source host, or akka.tcp://lazy-source@HOST:PORT) and --port");
        }

        var path = AkkaTransport.SourcePath(address, port ?? 0);
        if (tls is not null)
        {
            path = AkkaTransportTls.OverTls(path);
        }

        var local = AkkaTransport.LocalAddressTowards(path.Address.Host!, path.Address.Port ?? 1);
        var timeout = AkkaTransport.FirstContactTimeout(settings.Remote.ConnectTimeout);
        // The credentials live as long as the process: the actor system's TLS handshakes use them until it exits.
        var credentials = tls is null ? null : PageServerTlsCredentials.Load(tls);
        var system = credentials is null
            ? LazyPagesEngine.CreateRemoteSystem(settings, AkkaTransport.SystemConfig(local, 0, settings.Remote.Akka, akka))
            : LazyPagesEngine.CreateRemoteSystem(settings, AkkaTransport.SystemConfig(local, 0, settings.Remote.Akka, AkkaTransportTls.SslConfig.WithFallback(akka)),
                LazyPagesEngine.SystemName, AkkaTransportTls.Setup(credentials));
        try
        {
            var metadata = await AkkaTransport.RequestMetadataAsync(system, path, checkpointName ?? string.Empty, timeout).ConfigureAwait(false);
            return new AkkaSource(path, metadata, CheckpointDescription.ToCheckpoint(metadata, path.Address.ToString()), system);
        }
        catch
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            credentials?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <c>--cluster</c>: builds the engine's system as a node of the cluster (system <see cref="ClusterTransport.SystemName"/>,
    /// on the interface towards the first seed node), joins it, finds a node that serves <paramref name="checkpointName"/>,
    /// asks it for the checkpoint, and registers this daemon as a destination of it, so the other destinations count it
    /// (the fan-out's home assignment) before its restore begins.
    /// </summary>
    /// <exception cref="ArgumentException">Bad options.</exception>
    /// <exception cref="ImageFormatException">No node serves the checkpoint, or its description is unusable (named).</exception>
    /// <exception cref="TimeoutException">This node did not become a member (the seeds are named).</exception>
    public static async Task<AkkaSource> JoinClusterAsync(string? address, int? port, int? psSocket, PageServerTlsSettings? tls, string? checkpointName,
        IReadOnlyList<string> seedNodes, EngineSettings settings, Config akka)
    {
        if (psSocket is not null || !string.IsNullOrEmpty(address) || port is not null)
        {
            throw new ArgumentException("--transport akka --cluster finds the source by --checkpoint through the seed nodes; --address, --port and --ps-socket are not used with it");
        }

        if (string.IsNullOrEmpty(checkpointName))
        {
            throw new ArgumentException("--cluster needs --checkpoint NAME: the checkpoint is found by its name on whichever node serves it");
        }

        var seeds = seedNodes.Select(ClusterTransport.ParseSeed).Select(s => tls is null ? s : AkkaTransportTls.OverTls(s)).ToList();
        var firstSeed = seeds.Count > 0 ? seeds[0] : ClusterTransport.ConfiguredSeeds(akka).Select(ClusterTransport.ParseSeed).FirstOrDefault()
            ?? throw new ArgumentException($"--cluster needs --seed-node (or akka.cluster.seed-nodes in --config): akka.tcp://{ClusterTransport.SystemName}@HOST:PORT of a node of the cluster");
        var local = AkkaTransport.LocalAddressTowards(firstSeed.Host!, firstSeed.Port ?? 1);
        var timeout = AkkaTransport.FirstContactTimeout(settings.Remote.ConnectTimeout);
        // As without --cluster: with --tls every association of this node (source, peers, seeds) is mutual TLS.
        var credentials = tls is null ? null : PageServerTlsCredentials.Load(tls);
        var system = LazyPagesEngine.CreateRemoteSystem(settings,
            ClusterTransport.SystemConfig(local, 0, settings.Remote.Akka, seeds, credentials is null ? akka : AkkaTransportTls.SslConfig.WithFallback(akka)),
            ClusterTransport.SystemName, credentials is null ? null : AkkaTransportTls.Setup(credentials));
        try
        {
            var registry = await ClusterTransport.JoinAsync(system, mayFound: false, timeout).ConfigureAwait(false);
            var path = await ClusterTransport.FindSourceAsync(registry, checkpointName, timeout).ConfigureAwait(false);
            var metadata = await AkkaTransport.RequestMetadataAsync(system, path, checkpointName, timeout).ConfigureAwait(false);
            var checkpoint = CheckpointDescription.ToCheckpoint(metadata, path.Address.ToString());
            var clusterSettings = ClusterSettings.Read(system.Settings.Config);
            var map = ChunkMap.Of(checkpoint, clusterSettings.ChunkPages);
            ClusterTransport.RegisterDestination(system, registry, checkpointName, map);
            var counters = new FanOutCounters();
            var remote = settings.Remote;
            return new AkkaSource(path, metadata, checkpoint, system)
            {
                Fetcher = (source, statistics) => ClusterFetchActor.Props(checkpointName, path, map, clusterSettings, remote, source, statistics, counters),
            };
        }
        catch
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            credentials?.Dispose();
            throw;
        }
    }
}
