using System.CommandLine;
using System.Net.Sockets;
using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.CrashSafety;
using LazyActors.Engine.Diagnostics;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Tls;
using LazyActors.Engine.Restorer;
using LazyActors.Host.CrashSafety;
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
        var noGuardian = new Option<bool>("--no-guardian") { Description = "No crash guardian: if this daemon dies, the restored tasks read zeros where pages were missing (as with CRIU's daemon). Default: a guardian keeps the restore alive and starts a successor." };
        var resumeFd = new Option<int?>("--resume-fd") { Description = "Internal: continue the restore of a dead daemon from the guardian's journal on this descriptor.", Hidden = true };
        var transport = new Option<string>("--transport") { Description = "With --page-server: criu (CRIU's page-server protocol, default) or akka (our Akka.Remote transport against `page-server --transport akka`: the checkpoint's metadata comes over the wire too, so no pagemap or pages file is read here; --address may also be a whole akka.tcp:// address).", DefaultValueFactory = _ => "criu" };
        transport.AcceptOnlyFromAmong("criu", "akka");
        var checkpointName = new Option<string?>("--checkpoint") { Description = "With --transport akka: the name of the checkpoint to restore (default: the one the source serves)." };
        var cluster = new Option<bool>("--cluster") { Description = "With --transport akka: join an Akka.Cluster (--seed-node, or akka.cluster.seed-nodes in --config) and find --checkpoint on whichever node serves it; other destinations of the same checkpoint serve each other the pages they hold (fan-out), and a source or peer that leaves is replaced by another that holds the pages." };
        var seedNodes = new Option<string[]>("--seed-node") { Description = "With --cluster: a seed node, akka.tcp://lazy-cluster@HOST:PORT or HOST:PORT (repeat for more).", AllowMultipleArgumentsPerToken = false };
        var tls = new TlsOptions();

        var command = new Command("lazy-pages", "Serve lazy pages to `criu restore --lazy-pages` from local images or a page server (drop-in for `criu lazy-pages`).")
        {
            images, workDir, log, verbosity, statusFd, daemon, pidFile, noBackground, config, pageServer, address, port, psSocket,
            transport, checkpointName, noGuardian, resumeFd, cluster, seedNodes,
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
            CrashJournal? journal = null;
            System.Diagnostics.Process? guardian = null;
            string? description = null;
            try
            {
                var hocon = HostConfiguration.Load(parse.GetValue(config));
                // This process is the daemon: the engine may schedule every thread of it (start-up, tear-down).
                var settings = EngineSettings.Create(hocon, imagesDir, work) with { OwnsProcess = true };
                StartupTrace.Mark(StartupStep.SettingsRead);
                if (parse.GetValue(noBackground))
                {
                    settings = settings with { BackgroundPush = false };
                }

                var akkaTransport = parse.GetValue(pageServer) && parse.GetValue(transport) == "akka";
                var remote = parse.GetValue(pageServer) && !akkaTransport
                    ? RemoteEndpoint(parse.GetValue(address), parse.GetValue(port), parse.GetValue(psSocket), tls.Read(parse))
                    : null;
                var pidPath = parse.GetValue(pidFile) is { } p ? Path.Combine(work, p) : null;
                var akka = ConfigurationFactory.ParseString(HostLogging.AkkaHocon(level)).WithFallback(hocon);
                // Options of the remote transports are refused rather than ignored: a restore the user meant to serve
                // from a source must not quietly read local images.
                if (!parse.GetValue(pageServer) && parse.GetValue(transport) == "akka")
                {
                    throw new ArgumentException("--transport akka needs --page-server (the pages and the checkpoint's metadata come from a page source)");
                }

                if (!akkaTransport && parse.GetValue(checkpointName) is not null)
                {
                    throw new ArgumentException("--checkpoint needs --page-server --transport akka");
                }

                // The Akka transport builds the engine's actor system first: it asks the source for the checkpoint.
                if (!akkaTransport && (parse.GetValue(cluster) || parse.GetValue(seedNodes) is { Length: > 0 }))
                {
                    throw new ArgumentException("--cluster and --seed-node need --page-server --transport akka");
                }

                var akkaSource = !akkaTransport ? null
                    : parse.GetValue(cluster)
                        ? await AkkaSource.JoinClusterAsync(parse.GetValue(address), parse.GetValue(port), parse.GetValue(psSocket), tls.Read(parse), parse.GetValue(checkpointName), parse.GetValue(seedNodes) ?? [], settings, akka).ConfigureAwait(false)
                        : await AkkaSource.DescribeAsync(parse.GetValue(address), parse.GetValue(port), parse.GetValue(psSocket), tls.Read(parse), parse.GetValue(checkpointName), settings, akka).ConfigureAwait(false);

                // The actor system is built while the checkpoint is opened and the socket bound: it is the longest step
                // before a fault can be served, and the restorer's first fault comes soon after it connects.
                var resumeChannel = parse.GetValue(resumeFd);
                var guarded = settings.CrashSafety.Guardian && !parse.GetValue(noGuardian) && parse.GetValue(psSocket) is null;
                if (akkaSource is not null && (guarded || resumeChannel is not null))
                {
                    // Over the Akka transport the checkpoint is known only from its source: a successor describes it again
                    // and must find the same one before it copies a page (before it reads the journal, so that a refusal
                    // is a death to the guardian, which then stops the tree, never an end of the restore).
                    description = Path.Combine(work, DescribedCheckpoint.FileName);
                    KeepDescription(description, akkaSource, resuming: resumeChannel is not null);
                }

                var systemStartedEarly = resumeChannel is null || akkaSource is not null;
                using var engine = resumeChannel is { } channelFd
                    ? Resume(settings, remote, akkaSource, channelFd, out journal)
                    : akkaSource is not null
                        ? akkaSource.Fetcher is { } fetcher
                            ? LazyPagesEngine.ListenDescribed(settings, akkaSource.Checkpoint, akkaSource.Path, akkaSource.System, fetcher)
                            : LazyPagesEngine.ListenDescribed(settings, akkaSource.Checkpoint, akkaSource.Path, akkaSource.System)
                        : LazyPagesEngine.Listen(settings, remote, akka);
                if (journal is null && guarded)
                {
                    (journal, guardian, var program) = GuardianLauncher.Start(parse.Tokens.Select(t => t.Value).ToList(), settings, pidPath, logFile, m => Log.Warning("{Warning}", m));
                    engine.Protect(journal);
                    Log.Information("crash guardian pid {Guardian} ({Program:l}) holds the socket, the restorer's connection and every uffd{Mode}", guardian.Id, program,
                        akkaSource is null ? string.Empty : "; a successor describes the checkpoint again from the source (Akka transport)");
                }

                Log.Information("listening on {Socket}{PagesFrom:l}", engine.SocketPath,
                    akkaSource is not null ? $"; metadata and pages from the page source {akkaSource.Path} (Akka transport)" : remote is null ? string.Empty : $"; pages from the page server {remote}");
                if (parse.GetValue(statusFd) is { } fd)
                {
                    if (settings.ReadyAfterStartUp)
                    {
                        // The restorer starts once the actor system and the warm-up are done, instead of beside them.
                        await engine.StartUpDone.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    }

                    ReadinessSignal.WriteStatusByte(fd);
                    StartupTrace.Mark(StartupStep.ReadySignalled);
                }

                using var cancel = new CancellationTokenSource();
                ConsoleCancelEventHandler onCancel = (_, e) =>
                {
                    e.Cancel = true;
                    cancel.Cancel();
                };
                Console.CancelKeyPress += onCancel;
                // SIGTERM is a request to stop, like SIGINT: the restore ends as cancelled and the guardian is told so
                // (otherwise it would take the stop for a crash and start a successor). Only SIGKILL, the OOM killer or
                // a crash ends the daemon without telling it.
                using var onTerm = journal is null ? null : System.Runtime.InteropServices.PosixSignalRegistration.Create(
                    System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
                    {
                        context.Cancel = true;
                        cancel.Cancel();
                    });
                try
                {
                    var result = await engine.RunAsync(systemStartedEarly ? null : akka, null, null, cancel.Token).ConfigureAwait(false);
                    journal?.Done(result.ExitCode);
                    ForgetDescription(description);
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
            catch (Exception ex) when (ex is ConfigurationException or SocketException or TimeoutException || CommandErrors.IsUserError(ex))
            {
                if (journal is not null)
                {
                    journal.Done(1);
                    ForgetDescription(description);
                }

                Log.Fatal("lazy-pages: {Error}", ex.Message);
                await Console.Error.WriteLineAsync($"lazy-pages: {ex.Message}").ConfigureAwait(false);
                return 1;
            }
            finally
            {
                journal?.Dispose();
                guardian?.Dispose();
                await Log.CloseAndFlushAsync().ConfigureAwait(false);
            }
        });
        return command;
    }

    /// <summary>
    /// A successor started by the guardian: reads the dead daemon's journal and descriptors from the resume channel and
    /// continues its restore (the socket it listened on, the restorer's connection, every uffd), journalling on the
    /// same channel.
    /// </summary>
    private static LazyPagesEngine Resume(EngineSettings settings, PageServerEndpoint? remote, AkkaSource? akkaSource, int channelFd, out CrashJournal? journal)
    {
        try
        {
            // The guardian keeps itself away from the OOM killer; its successors must not inherit that.
            File.WriteAllText("/proc/self/oom_score_adj", "0");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.Debug("oom_score_adj unchanged: {Error}", ex.Message);
        }

        var channel = new SafeFdHandle(channelFd, ownsHandle: true);
        ResumeState state;
        try
        {
            state = ResumeState.Read(channel, TimeSpan.FromSeconds(60));
        }
        catch
        {
            channel.Dispose();
            throw;
        }

        journal = new CrashJournal(channel, state.LastId, m => Log.Warning("{Warning}", m));
        Log.Warning("resuming a restore whose daemon died (restart {Restarts}): {Entries} pstree entries and {Records} uffd records journalled", state.Restarts, state.EntriesDone, state.Ordered.Count);
        return akkaSource is null
            ? LazyPagesEngine.Resume(settings, remote, state, journal)
            : LazyPagesEngine.ResumeDescribed(settings, akkaSource.Checkpoint, akkaSource.Path, akkaSource.System, akkaSource.Fetcher, state, journal);
    }

    /// <summary>
    /// Keeps the source's description of the checkpoint at <paramref name="path"/> (a first daemon), or checks that the
    /// source still describes the checkpoint kept there (a successor).
    /// </summary>
    /// <exception cref="ImageFormatException">A successor found no description, or the source now describes another checkpoint.</exception>
    private static void KeepDescription(string path, AkkaSource akkaSource, bool resuming)
    {
        if (!resuming)
        {
            DescribedCheckpoint.Save(path, akkaSource.Metadata);
            return;
        }

        if (!File.Exists(path))
        {
            throw new ImageFormatException(path, "the restore's checkpoint description is missing: the checkpoint the source describes now cannot be checked against it, so the restore is not resumed");
        }

        if (!DescribedCheckpoint.SameCheckpoint(DescribedCheckpoint.Read(path), akkaSource.Metadata))
        {
            throw new ImageFormatException(akkaSource.Path.ToString(), $"the source now describes another checkpoint than the one this restore began with (kept in {path}): the restore is not resumed from it");
        }

        Log.Warning("the source {Source} describes the same checkpoint again; resuming the restore over the Akka transport", akkaSource.Path.ToString());
    }

    /// <summary>The restore ended (whatever its result): its description is no longer needed.</summary>
    private static void ForgetDescription(string? path)
    {
        if (path is null)
        {
            return;
        }

        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.Debug("{Description} left behind: {Error}", path, ex.Message);
        }
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
        if (result.Statistics.ThreadCpuAtEnd is { } cpu)
        {
            Log.Information("{ThreadCpu}", cpu.Describe());
        }

        foreach (var task in result.Statistics.Tasks)
        {
            Log.Information("{Label}: {Phase}, copied {Copied}/{Total} pages ({Faults} faults, {Zero} zero pages, {Dropped} dropped); fault latency, us: {FaultLatency}",
                task.Label, task.Phase, task.CopiedPages, task.TotalPages, task.Faults, task.ZeroPages, task.DroppedPages, task.FaultLatency.Describe());
        }

        if (result.Statistics.Remote.Connections is { } connections)
        {
            var remote = result.Statistics.Remote;
            Log.Information("page server: {Requests} GET(s), {Pages} page(s), {Short} short reply(ies), {Reconnects} reconnection(s), {Overtaking} fault(s) overtook their background read; {Connections}",
                remote.Requests, remote.Pages, remote.ShortReplies, remote.Reconnects, result.Statistics.OvertakingFaults, connections);
        }

        if (result.Statistics.FaultInjector is { } faults)
        {
            // Tests and the soak count what a one-shot daemon injected from its log (a hosted one has /metrics).
            Log.Information("fault injection: {Injected} fault(s) injected by plan {Plan}", faults.TotalInjected, faults.Plan);
        }

        // The gen0 budget beside the collections: whether a restore's few MiB of allocations collected depends on it,
        // and it differs between machines (the processor's reported cache) and publishes (LazyActorsGcGen0Size).
        var gen0Budget = Gen0Budget.MaxBytes() is { } budget ? $"{budget / 1048576.0:0.#} MiB" : "unknown";
        Log.Information("done in {Elapsed} ms with exit code {ExitCode}; GCs {Gen0}/{Gen1}/{Gen2} (gen0/1/2), GC pauses {GcPauseMs:0.0} ms in all, {AllocatedMiB:0.0} MiB allocated, gen0 budget up to {Gen0Budget}", (long)result.Elapsed.TotalMilliseconds, result.ExitCode, GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration().TotalMilliseconds, GC.GetTotalAllocatedBytes() / 1048576.0, gen0Budget);
    }
}
