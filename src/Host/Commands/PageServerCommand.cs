using System.CommandLine;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Protocol.Tls;
using LazyActors.Engine.Restorer;
using LazyActors.Host.Logging;
using Serilog;
using Serilog.Extensions.Logging;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>page-server -D DIR [-W WORKDIR] [--address ADDR] --port PORT --lazy-pages [-o LOG] [-v N] [--status-fd FD]
/// [-d --pidfile F] [--tls ...] [--drain-timeout S]</c>: the source of remote lazy restores, like
/// <c>criu page-server --lazy-pages</c> on the images of a normal dump (or the lazy part <c>split</c> writes), with
/// CRIU's replies, so <c>criu lazy-pages --page-server</c> uses it unchanged. Unlike CRIU's one-shot server it serves
/// any number of destinations and restores at once until stopped: SIGTERM or SIGINT stop accepting and let running
/// sessions finish within the drain time.
/// </summary>
internal static class PageServerCommand
{
    public static Command Create()
    {
        var images = new Option<string>("--images-dir", "-D") { Description = "Checkpoint images whose lazy pages are served (a normal dump, or split's lazy part).", Required = true };
        var workDir = new Option<string?>("--work-dir", "-W") { Description = "Directory of the log and the pidfile (default: the images dir)." };
        var address = new Option<string?>("--address") { Description = "Listen address, an IPv4 or IPv6 literal (default: every IPv4 address). With --tls client certificates must name it." };
        var port = new Option<int>("--port") { Description = "Listen port (0: any free port, logged).", Required = true };
        var lazyPages = new Option<bool>("--lazy-pages") { Description = "Serve lazy pages to `lazy-pages --page-server` daemons (the only mode of this server; required, as for CRIU)." };
        var log = new Option<string?>("--log-file", "-o") { Description = "Log file (relative to the work dir); default stderr." };
        var verbosity = new Option<int>("--verbosity", "-v") { Description = "CRIU log level 0-4 (default 2).", DefaultValueFactory = _ => 2 };
        var statusFd = new Option<int?>("--status-fd") { Description = "Write one \\0 byte to this descriptor once listening, then close it." };
        var daemon = new Option<bool>("--daemon", "-d") { Description = "Detach once listening (the parent exits 0)." };
        var pidFile = new Option<string?>("--pidfile") { Description = "With -d: write the server's pid here (relative to the work dir)." };
        var drain = new Option<double>("--drain-timeout") { Description = "On SIGTERM/SIGINT: seconds running sessions get to finish before they are cut (default 10).", DefaultValueFactory = _ => 10 };
        var transport = new Option<string>("--transport") { Description = "criu: CRIU's page-server protocol (default); akka: our Akka.Remote transport, which also carries the checkpoint's metadata (destinations need no pagemap or pages file; --address required: destinations address the source by it).", DefaultValueFactory = _ => "criu" };
        transport.AcceptOnlyFromAmong("criu", "akka");
        var name = new Option<string?>("--name") { Description = "With --transport akka: the checkpoint's name destinations may ask for (default: the images directory's name)." };
        var config = new Option<string?>("--config") { Description = "With --transport akka: HOCON overrides (lazy-actors.engine.remote.akka; default: config/lazy-actors.hocon next to the program, if present)." };
        var cluster = new Option<bool>("--cluster") { Description = "With --transport akka: join an Akka.Cluster (--seed-node, or akka.cluster.seed-nodes in --config; none: found a new one) and register the checkpoint under --name, so `lazy-pages --transport akka --cluster --checkpoint NAME` finds it on this node." };
        var seedNodes = new Option<string[]>("--seed-node") { Description = "With --cluster: a seed node, akka.tcp://lazy-cluster@HOST:PORT or HOST:PORT (repeat for more).", AllowMultipleArgumentsPerToken = false };
        var sessionNice = new Option<int?>("--session-nice") { Description = "Nice value (-20..19) of each session's thread (opt-in; default: inherited). Lower lets a GET's answer preempt a busy client CPU sooner; negative values need CAP_SYS_NICE (refused: logged, ignored)." };
        sessionNice.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is { } value && (value < -20 || value > 19))
            {
                result.AddError($"--session-nice {value}: a nice value is -20..19");
            }
        });
        var tls = new TlsOptions();

        var command = new Command("page-server", "Serve the lazy pages of a checkpoint to remote `lazy-pages --page-server` daemons (like `criu page-server --lazy-pages`, for any number of sessions until stopped).")
        {
            images, workDir, address, port, lazyPages, log, verbosity, statusFd, daemon, pidFile, drain, transport, name, config, cluster, seedNodes, sessionNice,
        };
        foreach (var option in tls.All)
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, _) =>
        {
            if (!parse.GetValue(lazyPages))
            {
                await Console.Error.WriteLineAsync("page-server: only --lazy-pages is supported: this server hands the lazy pages of existing images to lazy-pages daemons; it does not receive pages from `criu dump`").ConfigureAwait(false);
                return 1;
            }

            var imagesDir = Path.GetFullPath(parse.GetValue(images)!);
            var work = Path.GetFullPath(parse.GetValue(workDir) ?? imagesDir);
            if (parse.GetValue(daemon))
            {
                return DaemonLauncher.Detach("page-server", parse.Tokens.Select(t => t.Value).ToArray(), work, parse.GetValue(pidFile));
            }

            var level = HostLogging.FromVerbosity(parse.GetValue(verbosity));
            HostLogging.Configure(level, parse.GetValue(log) is { } l ? Path.Combine(work, l) : null);
            try
            {
                if (parse.GetValue(transport) == "akka")
                {
                    var hocon = HostConfiguration.Load(parse.GetValue(config));
                    var settings = EngineSettings.Create(hocon, imagesDir, work).Remote.Akka;
                    var clusterNode = parse.GetValue(cluster) ? new AkkaPageServer.ClusterNode(parse.GetValue(seedNodes) ?? [], hocon) : null;
                    return await AkkaPageServer.ServeAsync(imagesDir, parse.GetValue(name) ?? new DirectoryInfo(imagesDir).Name, parse.GetValue(address), parse.GetValue(port),
                        settings, level, parse.GetValue(statusFd), clusterNode, tls.Read(parse)).ConfigureAwait(false);
                }

                if (parse.GetValue(cluster) || parse.GetValue(seedNodes) is { Length: > 0 })
                {
                    throw new ArgumentException("--cluster and --seed-node need --transport akka");
                }

                return await ServeAsync(imagesDir, parse.GetValue(address), parse.GetValue(port), tls.Read(parse), parse.GetValue(statusFd), TimeSpan.FromSeconds(parse.GetValue(drain)), parse.GetValue(sessionNice)).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or ImageFormatException or InvalidDataException or UnauthorizedAccessException or ArgumentException or SocketException
                or Akka.Configuration.ConfigurationException or TimeoutException)
            {
                Log.Fatal("page-server: {Error}", ex.Message);
                await Console.Error.WriteLineAsync($"page-server: {ex.Message}").ConfigureAwait(false);
                return 1;
            }
            finally
            {
                await Log.CloseAndFlushAsync().ConfigureAwait(false);
            }
        });
        return command;
    }

    private static async Task<int> ServeAsync(string imagesDir, string? address, int port, PageServerTlsSettings? tls, int? statusFd, TimeSpan drain, int? sessionNice)
    {
        var endpoint = LazyPageServer.ListenEndPoint(address, port);
        using var credentials = tls is null ? null : PageServerTlsCredentials.Load(tls);
        using var store = LazyPageStore.Open(imagesDir);
        using var loggers = new SerilogLoggerFactory(Log.Logger);
        var options = new LazyPageServerOptions { Tls = credentials, TlsClientName = tls is { VerifyPeerName: true } ? address : null, SessionNice = sessionNice };
        var server = LazyPageServer.Start(store, endpoint, options, loggers.CreateLogger("page-server"));
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true; // stop through the drain below, not by the runtime's default exit
            stop.TrySetResult();
        }

        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        Log.Information("Using {Port} port", server.LocalEndPoint.Port);
        if (statusFd is { } fd)
        {
            ReadinessSignal.WriteStatusByte(fd);
        }

        await stop.Task.ConfigureAwait(false);
        Log.Information("page-server: stopping (drain {Seconds} s)", drain.TotalSeconds);
        await server.StopAsync(drain).ConfigureAwait(false);
        await server.DisposeAsync().ConfigureAwait(false);
        Log.Information("page-server: {Accepted} session(s), {Succeeded} succeeded, {Failed} failed; process CPU {CpuMs:0} ms", server.SessionsAccepted, server.SessionsSucceeded,
            server.SessionsFailed, Environment.CpuUsage.TotalTime.TotalMilliseconds);
        return 0;
    }
}
