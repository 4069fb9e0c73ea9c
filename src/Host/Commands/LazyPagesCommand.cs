using System.CommandLine;
using System.Net.Sockets;
using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Diagnostics;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Tls;
using LazyActors.Engine.Restorer;
using LazyActors.Host.Logging;
using Serilog;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>lazy-pages -D IMAGES [-W WORKDIR] [-o LOG] [-v N] [--status-fd FD] [-d|--daemon] [--pidfile F] [--config FILE]
/// [--page-server --address HOST --port PORT | --ps-socket FD] [--tls ...]</c>: a drop-in for <c>criu lazy-pages</c>
/// (spec §6), serving local images or, with <c>--page-server</c>, pages fetched from a page server.
/// </summary>
internal static class LazyPagesCommand
{
    public static Command Create()
    {
        var images = new Option<string>("--images-dir", "-D") { Description = "Checkpoint images to serve.", Required = true };
        var workDir = new Option<string?>("--work-dir", "-W") { Description = "Directory of lazy-pages.socket, the log and the pidfile (default: the images dir)." };
        var log = new Option<string?>("--log-file", "-o") { Description = "Log file (relative to the work dir); default stderr." };
        var verbosity = new Option<int>("--verbosity", "-v") { Description = "CRIU log level 0-4 (default 2).", DefaultValueFactory = _ => 2 };
        var statusFd = new Option<int?>("--status-fd") { Description = "Write one \\0 byte to this descriptor once listening, then close it." };
        var daemon = new Option<bool>("--daemon", "-d") { Description = "Detach once listening (the parent exits 0)." };
        var pidFile = new Option<string?>("--pidfile") { Description = "With -d: write the daemon's pid here (relative to the work dir)." };
        var noBackground = new Option<bool>("--no-background") { Description = "Serve faults only: no background transfer of the remaining pages." };
        var config = new Option<string?>("--config") { Description = "HOCON overrides (default: config/lazy-actors.hocon next to the program, if present)." };
        var pageServer = new Option<bool>("--page-server") { Description = "Fetch the lazy pages from a page server (`criu dump --lazy-pages`, `criu page-server --lazy-pages` or our page-server) instead of the local pages images." };
        var address = new Option<string?>("--address") { Description = "With --page-server: the source host (IPv4, IPv6 or a name)." };
        var port = new Option<int?>("--port") { Description = "With --page-server: the source port." };
        var psSocket = new Option<int?>("--ps-socket") { Description = "With --page-server: an inherited, connected socket to the page server instead of --address/--port (closed with PS_IOV_FORCE_CLOSE; cannot be reconnected)." };
        var tls = new TlsOptions();

        var command = new Command("lazy-pages", "Serve lazy pages to `criu restore --lazy-pages` from local images or a page server (drop-in for `criu lazy-pages`).")
        {
            images, workDir, log, verbosity, statusFd, daemon, pidFile, noBackground, config, pageServer, address, port, psSocket,
        };
        foreach (var option in tls.All)
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, _) =>
        {
            var imagesDir = Path.GetFullPath(parse.GetValue(images)!);
            var work = Path.GetFullPath(parse.GetValue(workDir) ?? imagesDir);
            if (parse.GetValue(daemon))
            {
                return DaemonLauncher.Detach("lazy-pages", parse.Tokens.Select(t => t.Value).ToArray(), work, parse.GetValue(pidFile));
            }

            var level = HostLogging.FromVerbosity(parse.GetValue(verbosity));
            var logFile = parse.GetValue(log) is { } l ? Path.Combine(work, l) : null;
            if (HostLogging.CheckWritable(logFile) is { } logProblem)
            {
                await Console.Error.WriteLineAsync($"lazy-pages: {logProblem}").ConfigureAwait(false);
                return 1;
            }

            HostLogging.Configure(level, logFile);
            try
            {
                var hocon = HostConfiguration.Load(parse.GetValue(config));
                var settings = EngineSettings.Create(hocon, imagesDir, work);
                StartupTrace.Mark(StartupStep.SettingsRead);
                if (parse.GetValue(noBackground))
                {
                    settings = settings with { BackgroundPush = false };
                }

                var remote = parse.GetValue(pageServer)
                    ? RemoteEndpoint(parse.GetValue(address), parse.GetValue(port), parse.GetValue(psSocket), tls.Read(parse))
                    : null;
                // The actor system is built while the checkpoint is opened and the socket bound: it is the longest step
                // before a fault can be served, and the restorer's first fault comes soon after it connects.
                var akka = ConfigurationFactory.ParseString(HostLogging.AkkaHocon(level)).WithFallback(hocon);
                using var engine = LazyPagesEngine.Listen(settings, remote, akka);
                Log.Information("listening on {Socket}{Source}", engine.SocketPath, remote is null ? string.Empty : $"; pages from the page server {remote}");
                if (parse.GetValue(statusFd) is { } fd)
                {
                    ReadinessSignal.WriteStatusByte(fd);
                }

                using var cancel = new CancellationTokenSource();
                ConsoleCancelEventHandler onCancel = (_, e) =>
                {
                    e.Cancel = true;
                    cancel.Cancel();
                };
                Console.CancelKeyPress += onCancel;
                try
                {
                    var result = await engine.RunAsync(cancel.Token).ConfigureAwait(false);
                    LogSummary(result);
                    if (!result.Succeeded)
                    {
                        await Console.Error.WriteLineAsync($"lazy-pages: {result.Error}").ConfigureAwait(false);
                    }

                    return result.ExitCode;
                }
                finally
                {
                    Console.CancelKeyPress -= onCancel;
                }
            }
            catch (Exception ex) when (ex is ConfigurationException or SocketException || CommandErrors.IsUserError(ex))
            {
                Log.Fatal("lazy-pages: {Error}", ex.Message);
                await Console.Error.WriteLineAsync($"lazy-pages: {ex.Message}").ConfigureAwait(false);
                return 1;
            }
            finally
            {
                await Log.CloseAndFlushAsync().ConfigureAwait(false);
            }
        });
        return command;
    }

    /// <summary>
    /// The page server as CRIU's client finds it: <c>--ps-socket FD</c> (an inherited connected socket; <c>--address</c>
    /// then only names the peer for TLS) or <c>--address</c> and <c>--port</c>; TLS credentials loaded now, so a bad file
    /// fails before the daemon says it is ready.
    /// </summary>
    private static PageServerEndpoint RemoteEndpoint(string? address, int? port, int? psSocket, PageServerTlsSettings? tls)
    {
        var credentials = tls is null ? null : PageServerTlsCredentials.Load(tls);
        if (psSocket is { } fd)
        {
            if (fd < 0)
            {
                throw new ArgumentException($"--ps-socket {fd}: not a descriptor");
            }

            var socket = new Socket(new SafeSocketHandle(fd, ownsHandle: true));
            if (socket.SocketType != SocketType.Stream || !socket.Connected)
            {
                throw new ArgumentException($"--ps-socket {fd}: not a connected stream socket");
            }

            return PageServerEndpoint.InheritedSocket(socket, address, credentials);
        }

        if (string.IsNullOrEmpty(address))
        {
            throw new ArgumentException("--page-server needs --address (the source host) and --port, or --ps-socket");
        }

        if (port is not { } p || p is <= 0 or > 65535)
        {
            throw new ArgumentException($"--page-server needs --port between 1 and 65535{(port is null ? string.Empty : $", got {port}")}");
        }

        return PageServerEndpoint.Tcp(address, p, credentials);
    }

    private static void LogSummary(EngineResult result)
    {
        Log.Information("{StartupTrace}", StartupTrace.Describe());
        foreach (var task in result.Statistics.Tasks)
        {
            Log.Information("{Label}: {Phase}, copied {Copied}/{Total} pages ({Faults} faults, {Zero} zero pages, {Dropped} dropped)",
                task.Label, task.Phase, task.CopiedPages, task.TotalPages, task.Faults, task.ZeroPages, task.DroppedPages);
        }

        if (result.Statistics.Remote.Connections is { } connections)
        {
            var remote = result.Statistics.Remote;
            Log.Information("page server: {Requests} GET(s), {Pages} page(s), {Short} short reply(ies), {Reconnects} reconnection(s); {Connections}",
                remote.Requests, remote.Pages, remote.ShortReplies, remote.Reconnects, connections);
        }

        Log.Information("done in {Elapsed} ms with exit code {ExitCode}; GCs {Gen0}/{Gen1}/{Gen2} (gen0/1/2), GC pauses {GcPauseMs:0.0} ms in all, {AllocatedMiB:0.0} MiB allocated", (long)result.Elapsed.TotalMilliseconds, result.ExitCode, GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration().TotalMilliseconds, GC.GetTotalAllocatedBytes() / 1048576.0);
    }
}
