using System.Net;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Remoting;
using LazyActors.Engine.Remoting.Wire;
using LazyActors.Engine.Restorer;
using LazyActors.Host.Logging;
using Serilog;
using Serilog.Events;
using Serilog.Extensions.Logging;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>page-server --transport akka</c>: the checkpoint's metadata and lazy pages served by a <see cref="PageSourceActor"/>
/// over Akka.Remote (<c>akka.tcp://lazy-source@ADDRESS:PORT/user/page-source</c>) until SIGTERM or SIGINT. Beside it
/// (unless <c>remote.akka.bulk-connection = off</c>) a <see cref="LazyPageServer"/> over the same store on a free port of
/// the same address, which the actor names to destinations for their bulk pages: Akka.Remote copies a message several
/// times on each side, the page server sends a reply's pages from the pages file with sendfile.
/// </summary>
internal static class AkkaPageServer
{
    public static async Task<int> ServeAsync(string imagesDir, string name, string? address, int port, AkkaTransportSettings settings, LogEventLevel level, int? statusFd)
    {
        if (string.IsNullOrEmpty(address))
        {
            throw new ArgumentException("--transport akka needs --address: destinations address the source by it (akka.tcp://lazy-source@ADDRESS:PORT)");
        }

        using var store = LazyPageStore.Open(imagesDir);
        var config = AkkaTransport.SystemConfig(address, port, settings, ConfigurationFactory.ParseString(HostLogging.AkkaHocon(level)));
        var system = ActorSystem.Create(AkkaTransport.SourceSystemName, config);
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
            var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnSignal(PosixSignalContext context)
            {
                context.Cancel = true;
                stop.TrySetResult();
            }

            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            var bound = ((ExtendedActorSystem)system).Provider.DefaultAddress;
            Log.Information("page-server: serving checkpoint '{Name}' ({Directory}, {Tasks} task(s), {Pages} lazy page(s)) at {Address}/user/{Actor}",
                name, imagesDir, store.Checkpoint.Tasks.Count, store.ServedPages, bound, PageSourceActor.Name);
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

    /// <summary>The address destinations reach the actor at, when it is an IP literal; every address otherwise (a name).</summary>
    private static IPEndPoint BulkListenEndPoint(string address) =>
        IPAddress.TryParse(address, out var ip) ? new IPEndPoint(ip, 0) : new IPEndPoint(IPAddress.Any, 0);
}
