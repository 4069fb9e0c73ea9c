using System.Globalization;
using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Remoting.Cluster.Wire;

namespace LazyActors.Engine.Remoting.Cluster;

/// <summary>
/// The cluster mode of the Akka transport (<c>page-server --transport akka --cluster</c>, <c>lazy-pages --page-server
/// --transport akka --cluster --checkpoint NAME</c>): every node runs an actor system named <see cref="SystemName"/>
/// that joins the seed nodes, a <see cref="CheckpointRegistryActor"/>, and (destinations) a <see cref="PeerPagesActor"/>.
/// A destination finds the checkpoint by name on whichever source registered it.
/// </summary>
public static class ClusterTransport
{
    /// <summary>The actor system name of every node of a cluster (Akka.Cluster needs one name for all).</summary>
    public const string SystemName = "lazy-cluster";

    private static readonly Lazy<Config> ClusterConfig = new(LoadClusterConfig);

    /// <summary>
    /// The configuration of a cluster node listening on <paramref name="hostname"/>:<paramref name="port"/> (0: any free
    /// port): the transport's (<see cref="AkkaTransport.SystemConfig"/>) with Akka.Cluster on top, <paramref name="seeds"/>
    /// (when any) as akka.cluster.seed-nodes, over <paramref name="more"/> (which may set the seed nodes itself).
    /// </summary>
    public static Config SystemConfig(string hostname, int port, AkkaTransportSettings settings, IReadOnlyList<Address> seeds, Config? more = null)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        var own = seeds.Count == 0
            ? Config.Empty
            : ConfigurationFactory.ParseString("akka.cluster.seed-nodes = [" + string.Join(", ", seeds.Select(s => $"\"{s}\"")) + "]");
        return AkkaTransport.SystemConfig(hostname, port, settings, own.WithFallback(more ?? Config.Empty).WithFallback(ClusterConfig.Value));
    }

    /// <summary>
    /// A seed node given as <c>akka.tcp://lazy-cluster@HOST:PORT</c> or <c>HOST:PORT</c> (IPv6 in brackets).
    /// </summary>
    /// <exception cref="ArgumentException">Not a seed node address (named).</exception>
    public static Address ParseSeed(string seed)
    {
        ArgumentException.ThrowIfNullOrEmpty(seed);
        string text = seed.Contains("://", StringComparison.Ordinal) ? seed.TrimEnd('/') : $"akka.tcp://{SystemName}@{seed}";
        Address address;
        try
        {
            address = Address.Parse(text);
        }
        catch (Exception e) when (e is UriFormatException or ArgumentException or FormatException)
        {
            throw new ArgumentException($"--seed-node {seed}: not akka.tcp://{SystemName}@HOST:PORT or HOST:PORT ({e.Message})", e);
        }

        if (address.Host is null || address.Port is null or <= 0 or > 65535)
        {
            throw new ArgumentException($"--seed-node {seed}: not akka.tcp://{SystemName}@HOST:PORT or HOST:PORT (a host and a port are needed)");
        }

        if (address.System != SystemName)
        {
            throw new ArgumentException($"--seed-node {seed}: the cluster's actor system is named {SystemName}, not {address.System}");
        }

        return address;
    }

    /// <summary>The seed nodes of <paramref name="config"/> (akka.cluster.seed-nodes), for the checks before joining.</summary>
    public static IReadOnlyList<string> ConfiguredSeeds(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.HasPath("akka.cluster.seed-nodes") ? [.. config.GetStringList("akka.cluster.seed-nodes")] : [];
    }

    /// <summary>
    /// Starts <paramref name="system"/>'s registry and joins the cluster: the configured seed nodes, or (<paramref name="mayFound"/>,
    /// a source started with none) itself, founding a cluster others join; then waits until this node is up.
    /// </summary>
    /// <exception cref="ArgumentException">No seed node and not allowed to found one.</exception>
    /// <exception cref="TimeoutException">Not up within <paramref name="timeout"/> (the seeds are named).</exception>
    public static async Task<IActorRef> JoinAsync(ActorSystem system, bool mayFound, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(system);
        var seeds = ConfiguredSeeds(system.Settings.Config);
        var cluster = Akka.Cluster.Cluster.Get(system);
        if (seeds.Count == 0)
        {
            if (!mayFound)
            {
                throw new ArgumentException($"--cluster needs --seed-node (or akka.cluster.seed-nodes): a destination joins an existing cluster (akka.tcp://{SystemName}@HOST:PORT of a source)");
            }

            // Without seed nodes the first source founds the cluster: it joins itself.
            cluster.Join(cluster.SelfAddress);
        }

        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.RegisterOnMemberUp(() => up.TrySetResult());
        var registry = system.ActorOf(CheckpointRegistryActor.Props(), CheckpointRegistryActor.Name);
        try
        {
            await up.Task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"this node ({cluster.SelfAddress}) did not become a member of the cluster within {timeout.TotalSeconds:0.###} s (seed nodes: {(seeds.Count == 0 ? "itself" : string.Join(", ", seeds))})");
        }

        return registry;
    }

    /// <summary>This node's entry as the source of <paramref name="checkpoint"/>, served by the page source actor of <paramref name="system"/>.</summary>
    public static void RegisterSource(ActorSystem system, IActorRef registry, string checkpoint)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(registry);
        var self = Akka.Cluster.Cluster.Get(system).SelfAddress;
        registry.Tell(new CheckpointRegistryActor.Register(new RegistryEntry
        {
            Checkpoint = checkpoint,
            Role = CheckpointRole.Source,
            PagesPath = (new RootActorPath(self) / "user" / PageSourceActor.Name).ToString(),
        }));
    }

    /// <summary>
    /// Starts this destination's <see cref="PeerPagesActor"/> and registers it as a destination of
    /// <paramref name="checkpoint"/> (nothing held yet), so peers count it from the start.
    /// </summary>
    public static void RegisterDestination(ActorSystem system, IActorRef registry, string checkpoint, ChunkMap map)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(map);
        system.ActorOf(PeerPagesActor.Props(), PeerPagesActor.Name);
        registry.Tell(new CheckpointRegistryActor.Register(DestinationEntry(system, checkpoint, map, new byte[(map.Count + 7) / 8], complete: false, restoring: false)));
    }

    /// <summary>A destination's entry: its peer pages actor, and the chunks it holds.</summary>
    internal static RegistryEntry DestinationEntry(ActorSystem system, string checkpoint, ChunkMap map, byte[] held, bool complete, bool restoring) => new()
    {
        Checkpoint = checkpoint,
        Role = CheckpointRole.Destination,
        PagesPath = PeerPagesActor.PathAt(Akka.Cluster.Cluster.Get(system).SelfAddress).ToString(),
        ChunkPages = (uint)map.ChunkPages,
        Held = Google.Protobuf.ByteString.CopyFrom(held),
        Complete = complete,
        Restoring = restoring,
    };

    /// <summary>
    /// The page source path of a node that serves <paramref name="checkpoint"/>, asked of the registry until one is
    /// registered (replication takes a moment after joining) or <paramref name="timeout"/> passed.
    /// </summary>
    /// <exception cref="ImageFormatException">No node serves it within the timeout (named).</exception>
    public static async Task<ActorPath> FindSourceAsync(IActorRef registry, string checkpoint, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        CheckpointRegistryActor.View? last = null;
        while (clock.Elapsed < timeout)
        {
            last = await registry.Ask<CheckpointRegistryActor.View>(new CheckpointRegistryActor.Find(checkpoint), TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            if (last.Sources.FirstOrDefault() is { } source && ActorPath.TryParse(source.Entry.PagesPath, out var path))
            {
                return path;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }

        throw new ImageFormatException($"cluster checkpoint '{checkpoint}'", string.Create(CultureInfo.InvariantCulture,
            $"no node of the cluster serves it within {timeout.TotalSeconds:0.###} s ({last?.Nodes.Count ?? 0} registered node(s) for it; is `page-server --transport akka --cluster --name {checkpoint}` running and joined?)"));
    }

    private static Config LoadClusterConfig()
    {
        var assembly = typeof(ClusterTransport).Assembly;
        using var stream = assembly.GetManifestResourceStream("LazyActors.Engine.Remoting.Cluster.Cluster.conf")
            ?? throw new InvalidOperationException("embedded resource LazyActors.Engine.Remoting.Cluster.Cluster.conf is missing");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}
