using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Remoting;
using LazyActors.Engine.Restorer;
using LazyActors.Host.Logging;
using Serilog;
using Serilog.Events;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>page-server --transport akka</c>: the checkpoint's metadata and lazy pages served by a <see cref="PageSourceActor"/>
/// over Akka.Remote (<c>akka.tcp://lazy-source@ADDRESS:PORT/user/page-source</c>) until SIGTERM or SIGINT.
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
        try
        {
            system.ActorOf(PageSourceActor.Props(store, name, settings.MaxReplyBytes, counters), PageSourceActor.Name);
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
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
    }
}
