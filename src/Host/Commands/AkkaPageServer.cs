using System.Net;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Protocol.Tls;
using LazyActors.Engine.Remoting;
using LazyActors.Engine.Remoting.Cluster;
using LazyActors.Engine.Remoting.Wire;
using LazyActors.Engine.Restorer;
using LazyActors.Host.Logging;
using Serilog;
using Serilog.Events;
using Serilog.Extensions.Logging;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>page-server --transport akka</c>: the checkpoint's metadata and lazy pages served by a <see cref="PageSourceActor"/>
/// over Akka.Remote (<c>akka.tcp://lazy-source@ADDRESS:PORT/user/page-source</c>) until SIGTERM or SIGINT. With
/// <c>--cluster</c> the node joins an Akka.Cluster (system <c>lazy-cluster</c>) and registers the checkpoint by name. Beside it
/// (unless <c>remote.akka.bulk-connection = off</c>) a <see cref="LazyPageServer"/> over the same store on a free port of
/// the same address, which the actor names to destinations for their bulk pages: Akka.Remote copies a message several
/// times on each side, the page server sends a reply's pages from the pages file with sendfile.
/// </summary>
internal static class AkkaPageServer
{
    /// <summary>How long joining the cluster may take before the server gives up.</summary>
    private static readonly TimeSpan JoinTimeout = TimeSpan.FromSeconds(30);

    public static async Task<int> ServeAsync(string imagesDir, string name, string? address, int port, AkkaTransportSettings settings, LogEventLevel level, int? statusFd,
        ClusterNode? cluster = null, PageServerTlsSettings? tls = null)
    {
        if (string.IsNullOrEmpty(address))
        {
            throw new ArgumentException("--transport akka needs --address: destinations address the source by it (akka.tcp://lazy-source@ADDRESS:PORT)");
        }

        using var store = LazyPageStore.Open(imagesDir);
        using var credentials = tls is null ? null : PageServerTlsCredentials.Load(tls);
        var logging = ConfigurationFactory.ParseString(HostLogging.AkkaHocon(level));
        if (credentials is not null)
        {
            logging = AkkaTransportTls.SslConfig.WithFallback(logging);
        }

        var config = cluster is null
            ? AkkaTransport.SystemConfig(address, port, settings, logging)
            : ClusterTransport.SystemConfig(address, port, settings,
                [.. cluster.Seeds.Select(ClusterTransport.ParseSeed).Select(s => credentials is null ? s : AkkaTransportTls.OverTls(s))], logging.WithFallback(cluster.Hocon));
        var systemName = cluster is null ? AkkaTransport.SourceSystemName : ClusterTransport.SystemName;
        var system = credentials is null
            ? ActorSystem.Create(systemName, config)
            : ActorSystem.Create(systemName, BootstrapSetup.Create().WithConfig(config).And(AkkaTransportTls.Setup(credentials)));
        var counters = new SourceCounters();
        using var loggers = new SerilogLoggerFactory(Log.Logger);
        LazyPageServer? bulk = null;
        try
        {
            BulkEndpoint? offered = null;
            if (settings.BulkConnection)
            {
                bulk = LazyPageServer.Start(store, BulkListenEndPoint(address), logger: loggers.CreateLogger("bulk-page-server"));
                offered = new BulkEndpoint { Host = address, Port = (uint)bulk.LocalEndPoint.Port };
            }

            system.ActorOf(PageSourceActor.Props(store, name, settings.MaxReplyBytes, counters, offered), PageSourceActor.Name);
            if (cluster is not null)
            {
                var registry = await ClusterTransport.JoinAsync(system, mayFound: true, JoinTimeout).ConfigureAwait(false);
                ClusterTransport.RegisterSource(system, registry, name);
                Log.Information("page-server: member of the cluster as {Address}; checkpoint '{Name}' registered", Akka.Cluster.Cluster.Get(system).SelfAddress, name);
            }

            var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnSignal(PosixSignalContext context)
            {
                context.Cancel = true;
                stop.TrySetResult();
            }

            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            var bound = ((ExtendedActorSystem)system).Provider.DefaultAddress;
            Log.Information("page-server: serving checkpoint '{Name}' ({Directory}, {Tasks} task(s), {Pages} lazy page(s)) at {Address}/user/{Actor}{Tls}",
                name, imagesDir, store.Checkpoint.Tasks.Count, store.ServedPages, bound, PageSourceActor.Name, credentials is null ? string.Empty : " over mutual TLS");
            Log.Information("Using {Port} port", bound.Port);
            if (bulk is not null)
            {
                Log.Information("page-server: bulk pages on {Endpoint} (CRIU's page-server protocol)", bulk.LocalEndPoint);
            }

            if (statusFd is { } fd)
            {
                ReadinessSignal.WriteStatusByte(fd);
            }

            await stop.Task.ConfigureAwait(false);
            Log.Information("page-server: stopping; {Destinations} destination(s), {Faults} fault and {Bulk} bulk repl(ies), {MiB:0.0} MiB sent, {Refused} refused",
                counters.Destinations, counters.FaultReplies, counters.BulkReplies, counters.Bytes / 1048576.0, counters.Refused);
            long lazyBytes = (long)store.ServedPages * 4096;
            foreach (var (destination, bytes) in counters.BytesByDestination.OrderBy(d => d.Key, StringComparer.Ordinal))
            {
                Log.Information("page-server: sent {Bytes} byte(s) to destination {Destination} ({Ratio:0.00} x the lazy size of {LazyBytes} bytes)",
                    bytes, destination, lazyBytes == 0 ? 0 : (double)bytes / lazyBytes, lazyBytes);
            }

            return 0;
        }
        finally
        {
            if (bulk is not null)
            {
                await bulk.StopAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                await bulk.DisposeAsync().ConfigureAwait(false);
            }

            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
    }

    /// <summary>The <c>--cluster</c> options: seed nodes given on the command line, and the --config file (which may name them too).</summary>
    public sealed record ClusterNode(IReadOnlyList<string> Seeds, Config Hocon);

    /// <summary>The address destinations reach the actor at, when it is an IP literal; every address otherwise (a name).</summary>
    private static IPEndPoint BulkListenEndPoint(string address) =>
        IPAddress.TryParse(address, out var ip) ? new IPEndPoint(ip, 0) : new IPEndPoint(IPAddress.Any, 0);
}
