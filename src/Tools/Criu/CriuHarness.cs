using System.Globalization;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;
using LazyActors.Tools.Bench;

namespace LazyActors.Tools.Criu;

/// <summary>
/// Real CRIU in the loop: dumps a workload with <c>criu dump</c> and restores it with
/// <c>criu restore --lazy-pages</c> served by a lazy-pages daemon (ours, CRIU's own or any command), then triggers
/// the restored tree, which first-touches and verifies all its memory and reports per task. Every step runs under its
/// own child subreaper (<see cref="ReapedProcess"/>), is bounded in time (<see cref="CriuHarnessOptions"/>) and is
/// killed by pid when it overstays; the result says why a run failed, and success means every byte of every task was
/// verified and the daemon exited 0 by itself.
/// </summary>
/// <remarks>
/// Transports: <see cref="RestoreAsync"/> serves a normal dump's local images; <see cref="RestoreThroughPageServerAsync"/>
/// serves them through <c>criu page-server --lazy-pages</c> on loopback; <see cref="MigrateLazilyAsync"/> dumps with
/// <c>criu dump --lazy-pages</c> (the source tree, PID 1 of its own pid namespace, stays frozen and serves its pages)
/// and restores from a copy of its images. The remote ones need a daemon that offers <c>--page-server</c> and raise
/// <c>fs.pipe-max-size</c> to 4 MiB for the run (<see cref="PipeMaxSizeScope"/>).
/// </remarks>
public sealed class CriuHarness
{
    private const int LogTailChars = 1200;
    private const string SocketName = LazyPagesHandshake.SocketName;
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ReapBound = TimeSpan.FromSeconds(15);

    /// <summary>Creates a harness using <paramref name="criu"/>.</summary>
    public CriuHarness(CriuTool criu, CriuHarnessOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(criu);
        Criu = criu;
        Options = options ?? new CriuHarnessOptions();
    }

    /// <summary>The CRIU used for dump, restore and page-server.</summary>
    public CriuTool Criu { get; }

    /// <summary>Bounds and switches.</summary>
    public CriuHarnessOptions Options { get; }

    /// <summary>
    /// Starts <paramref name="workload"/> (its own session, stdin /dev/null, stdout and stderr appended to a log), waits
    /// until every task is ready and dumps the tree with <c>criu dump -t ROOT</c> (CRIU kills it; its reaper reaps it
    /// all). <paramref name="runDirectory"/> (created; keep its path short) holds everything of this checkpoint.
    /// </summary>
    /// <exception cref="CriuHarnessException">The workload did not get ready or the dump failed; the message names the log.</exception>
    public Task<CriuCheckpoint> DumpAsync(CriuWorkload workload, string runDirectory, CancellationToken cancellationToken = default) =>
        DumpAsync(workload, runDirectory, ownPidNamespace: false, cancellationToken);

    /// <summary>
    /// As <see cref="DumpAsync(CriuWorkload, string, CancellationToken)"/>, the workload started as PID 1 of a new pid
    /// namespace (and leader of its own session there) when <paramref name="ownPidNamespace"/>: each restore of such a
    /// checkpoint gets a new pid namespace from CRIU, so several copies of the tree can run at once
    /// (<see cref="RestoreCopiesAsync"/>).
    /// </summary>
    public async Task<CriuCheckpoint> DumpAsync(CriuWorkload workload, string runDirectory, bool ownPidNamespace, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var (workloadDir, imagesDir) = PrepareRun(runDirectory, "img");
        using var source = StartWorkload(workload, workloadDir, pidNamespace: ownPidNamespace);
        var ready = await WaitForReadyAsync(workload, workloadDir, source, cancellationToken).ConfigureAwait(false);
        int root = await RootPidAsync(source, workload).ConfigureAwait(false);
        if (ready[0].Pid != (ownPidNamespace ? 1 : root))
        {
            throw new CriuHarnessException($"{workload.Name}: task 0 reports pid {ready[0].Pid} but the reaper started pid {root}{(ownPidNamespace ? " as PID 1 of its namespace" : "")}");
        }

        Progress($"{workload.Name}: dumping pid {root} into {imagesDir}");
        var argv = CriuArgv("dump", "-t", Number(root), "-D", imagesDir, "-o", Path.Combine(runDirectory, "dump.log"));
        using var dump = ReapedProcess.Start(new ReapedProcessOptions { Argv = argv, LogPath = Path.Combine(runDirectory, "dump.out"), Deadline = Options.DumpTimeout, WorkingDirectory = runDirectory });
        var (exit, problem) = await WithinAsync(dump.MainExit, Options.DumpTimeout + Short, cancellationToken).ConfigureAwait(false);
        if (exit is not { ExitCode: 0 })
        {
            throw new CriuHarnessException($"`{CommandTemplate.Join(argv)}` {(exit is null ? problem : $"failed: {exit}")}; {Tail(Path.Combine(runDirectory, "dump.log"))}; stderr: {dump.LogTail(400)}");
        }

        double dumpSeconds = MonotonicClock.Seconds(dump.SpawnedNs, exit.MonotonicNs);
        await EndWorkloadAsync(source, workload).ConfigureAwait(false);
        var checkpoint = new CriuCheckpoint(workload, runDirectory, imagesDir, workloadDir, ready, dumpSeconds) { OwnPidNamespace = ownPidNamespace };
        Progress($"{workload.Name}: dumped in {dumpSeconds:0.00} s, {checkpoint.LazyBytes >> 20} MiB lazy");
        return checkpoint;
    }

    /// <summary>
    /// Restores <paramref name="checkpoint"/> from its local images with <c>criu restore --lazy-pages</c> served by
    /// <paramref name="daemon"/>, triggers it and collects every task's result. Never throws for a failed run: the
    /// result says what failed.
    /// </summary>
    public async Task<CriuRestoreResult> RestoreAsync(CriuCheckpoint checkpoint, CriuDaemonSpec daemon, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(daemon);
        ResetWorkload(checkpoint);
        var work = checkpoint.NewWorkDirectory(daemon.Label);
        return await ServeAndRestoreAsync(checkpoint, checkpoint.ImagesDirectory, daemon, work, CriuTransport.Local, null, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <paramref name="copies"/> restores of <paramref name="checkpoint"/> at once, each served by its own
    /// <paramref name="daemon"/> in its own work directory (N copies of one warm service): each <c>criu restore</c> runs
    /// in a mount namespace of its own where a copy of the workload directory (the log at its size at dump, no results)
    /// is bind-mounted over the workload directory, so each restored tree finds its log as dumped and writes its results
    /// into its copy (a task opens its result file only after the restore, in the mount namespace it was restored into);
    /// CRIU gives each tree a pid namespace of its own (the checkpoint's root is PID 1 of one). Never throws for a failed
    /// run: each result says what failed.
    /// </summary>
    /// <exception cref="ArgumentException">The checkpoint was not dumped with its own pid namespace.</exception>
    public async Task<IReadOnlyList<CriuRestoreResult>> RestoreCopiesAsync(CriuCheckpoint checkpoint, CriuDaemonSpec daemon, int copies, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(daemon);
        ArgumentOutOfRangeException.ThrowIfLessThan(copies, 1);
        if (!checkpoint.OwnPidNamespace)
        {
            throw new ArgumentException($"{checkpoint.Workload.Name}: copies restored at once need a checkpoint dumped as PID 1 of its own pid namespace (DumpAsync ownPidNamespace: true), or they would claim the same pids", nameof(checkpoint));
        }

        var runs = new List<Task<CriuRestoreResult>>();
        for (int copy = 0; copy < copies; copy++)
        {
            var work = checkpoint.NewWorkDirectory(daemon.Label);
            var results = Path.Combine(work, "wl");
            CopyWorkloadDirectory(checkpoint, results);
            var isolation = new RestoreIsolation(results,
                argv => ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", "mount --bind \"$1\" \"$2\" && shift 2 && exec \"$@\"", "sh", results, checkpoint.WorkloadDirectory, .. argv]);
            runs.Add(ServeAndRestoreAsync(checkpoint, checkpoint.ImagesDirectory, daemon, work, CriuTransport.Local, null, null, cancellationToken, isolation));
        }

        return await Task.WhenAll(runs).ConfigureAwait(false);
    }

    /// <summary>Where one restore's tree writes its results, and how its <c>criu restore</c> command is wrapped to get
    /// there (see <see cref="RestoreCopiesAsync"/>).</summary>
    private sealed record RestoreIsolation(string ResultsDirectory, Func<IReadOnlyList<string>, IReadOnlyList<string>> Wrap);

    /// <summary>A copy of the workload directory as it was at the dump: every file but results, the log cut to its size
    /// at dump (CRIU checks it), so a restore bind-mounted over it finds what the dumped tree had open.</summary>
    private static void CopyWorkloadDirectory(CriuCheckpoint checkpoint, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.EnumerateFiles(checkpoint.WorkloadDirectory))
        {
            var name = Path.GetFileName(file);
            if (name.StartsWith("result-", StringComparison.Ordinal) || name.StartsWith("slow-", StringComparison.Ordinal))
            {
                continue;
            }

            var target = Path.Combine(destination, name);
            File.Copy(file, target, overwrite: true);
            if (file == checkpoint.WorkloadLogPath)
            {
                using var log = new FileStream(target, FileMode.Open, FileAccess.Write);
                log.SetLength(checkpoint.WorkloadLogSizeAtDump);
            }
        }
    }

    /// <summary>
    /// Restores <paramref name="checkpoint"/> remotely: a page server (<paramref name="source"/>; by default
    /// <c>criu page-server --lazy-pages</c>) serves its images on 127.0.0.1; the restore and the daemon (with
    /// <c>--page-server --address --port</c>) get the images without the lazy pages' data, as <c>criu dump
    /// --lazy-pages</c> would have left them (split with our <see cref="CheckpointSplitter"/>), so every lazy page has to
    /// come over TCP; with <paramref name="fullImagesAtDestination"/> they get the normal dump as it is (the daemon must
    /// still fetch remotely). CRIU's page server must exit 0 by itself after the daemon closed the session; ours gets
    /// SIGTERM once the restore is over and must then exit 0. <see cref="CriuHarnessOptions.BeforeTrigger"/> gets the
    /// running source (<see cref="RestoredTree.Source"/>) and may kill it and start it again: the instance running at
    /// the end is the one checked; when none runs, the result notes it.
    /// </summary>
    public async Task<CriuRestoreResult> RestoreThroughPageServerAsync(CriuCheckpoint checkpoint, CriuDaemonSpec daemon, CriuSourceSpec? source = null,
        bool fullImagesAtDestination = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(daemon);
        source ??= CriuSourceSpec.Criu(Criu);
        var work = checkpoint.NewWorkDirectory(daemon.Label);
        if (RemoteUnsupported(daemon) is { } unsupported)
        {
            return NotRun(checkpoint, daemon, work, CriuTransport.PageServer, unsupported);
        }

        using var pipes = new PipeMaxSizeScope();
        ResetWorkload(checkpoint);
        var destination = fullImagesAtDestination ? checkpoint.ImagesDirectory : EagerPart(checkpoint);
        var endpoint = CriuPageServerEndpoint.FreeLoopbackPort();
        var (server, problem) = await RunningPageServer.StartAsync(source, endpoint, log => source.Argv(checkpoint.ImagesDirectory, endpoint, log, Options.CriuVerbosity),
            work, RunBound(), Options.ListenTimeout, cancellationToken).ConfigureAwait(false);
        if (server is null)
        {
            return NotRun(checkpoint, daemon, work, CriuTransport.PageServer, problem!);
        }

        using (server)
        {
            var result = await ServeAndRestoreAsync(checkpoint, destination, daemon, work, CriuTransport.PageServer, endpoint, server, cancellationToken).ConfigureAwait(false);
            result = result with { Source = source.Label, SourceCommand = source.DisplayName };
            if (server.Current is not { } running)
            {
                // Killed from BeforeTrigger and not started again: nothing to stop or check.
                return result with { Notes = [.. result.Notes, $"the source was killed during the restore ({server.Starts} start(s)) and not running at the end"] };
            }

            if (source.StopsOnSignal && await WithinAsync(running.MainPid, Short, cancellationToken).ConfigureAwait(false) is ({ } pid, null))
            {
                _ = SpawnNative.Kill(pid, CriuNative.Sigterm); // ours serves until stopped; the drain then ends it
            }

            return await RequireSourceExitAsync(result, running, $"{source.Label} (the source)", server.CurrentLog, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Migrates <paramref name="workload"/> lazily: starts it as PID 1 of its own pid namespace (so the restored copy
    /// can take the same pids while the source is still alive), dumps it with <c>criu dump --lazy-pages --address
    /// 127.0.0.1 --port P --status-fd</c> (its byte means the images are written), copies the images to a destination
    /// directory and restores from there with the daemon fetching pages from the frozen source. The source dump must
    /// exit 0 once everything was fetched.
    /// </summary>
    /// <exception cref="CriuHarnessException">The workload did not get ready or the source dump failed.</exception>
    public async Task<CriuRestoreResult> MigrateLazilyAsync(CriuWorkload workload, CriuDaemonSpec daemon, string runDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workload);
        ArgumentNullException.ThrowIfNull(daemon);
        var (workloadDir, destination) = PrepareRun(runDirectory, "img");
        var sourceImages = Path.Combine(runDirectory, "img-src");
        Directory.CreateDirectory(sourceImages);
        if (RemoteUnsupported(daemon) is { } unsupported)
        {
            return new CriuRestoreResult { Workload = workload.Name, Daemon = daemon.Label, DaemonCommand = daemon.DisplayName, Transport = CriuTransport.LazyDump, Failures = [unsupported] };
        }

        using var pipes = new PipeMaxSizeScope();
        using var source = StartWorkload(workload, workloadDir, pidNamespace: true);
        var ready = await WaitForReadyAsync(workload, workloadDir, source, cancellationToken).ConfigureAwait(false);
        int root = await RootPidAsync(source, workload).ConfigureAwait(false);
        if (ready[0].Pid != 1)
        {
            throw new CriuHarnessException($"{workload.Name}: task 0 should be PID 1 of its pid namespace but reports pid {ready[0].Pid}");
        }

        var endpoint = CriuPageServerEndpoint.FreeLoopbackPort();
        var dumpLog = Path.Combine(runDirectory, "dump.log");
        var argv = CriuArgv("dump", "-t", Number(root), "-D", sourceImages, "--lazy-pages", "--address", endpoint.Address, "--port", Number(endpoint.Port), "-o", dumpLog, "--status-fd", ReapedProcess.StatusFdToken);
        Progress($"{workload.Name}: lazy dump of pid {root} (PID 1 of its namespace) serving on {endpoint.Address}:{endpoint.Port}");
        using var dump = ReapedProcess.Start(new ReapedProcessOptions { Argv = argv, LogPath = Path.Combine(runDirectory, "dump.out"), Deadline = Options.DumpTimeout + RunBound(), StatusPipe = true, WorkingDirectory = runDirectory });
        var (written, problem) = await dump.WaitForStatusByteAsync(Options.DumpTimeout, cancellationToken).ConfigureAwait(false);
        if (written is null)
        {
            throw new CriuHarnessException($"`{CommandTemplate.Join(argv)}` did not signal its images written: {problem}; {Tail(dumpLog)}; stderr: {dump.LogTail(400)}");
        }

        foreach (var file in Directory.EnumerateFiles(sourceImages))
        {
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)), overwrite: true);
        }

        var checkpoint = new CriuCheckpoint(workload, runDirectory, destination, workloadDir, ready, MonotonicClock.Seconds(dump.SpawnedNs, written.Value));
        var work = checkpoint.NewWorkDirectory(daemon.Label);
        var result = await ServeAndRestoreAsync(checkpoint, destination, daemon, work, CriuTransport.LazyDump, endpoint, null, cancellationToken).ConfigureAwait(false);
        result = await RequireSourceExitAsync(result, dump, "criu dump --lazy-pages (the source)", dumpLog, cancellationToken).ConfigureAwait(false);
        await EndWorkloadAsync(source, workload).ConfigureAwait(false);
        return result;
    }

    private async Task<CriuRestoreResult> ServeAndRestoreAsync(CriuCheckpoint checkpoint, string imagesDir, CriuDaemonSpec daemon, string work, CriuTransport transport, CriuPageServerEndpoint? endpoint, RunningPageServer? source, CancellationToken cancellationToken,
        RestoreIsolation? isolation = null)
    {
        var resultsDirectory = isolation?.ResultsDirectory ?? checkpoint.WorkloadDirectory;
        var failures = new List<string>();
        var notes = new List<string>();
        var daemonLog = Path.Combine(work, "daemon.log");
        var daemonOut = Path.Combine(work, "daemon.out");
        var argv = daemon.Argv(imagesDir, work, daemonLog, Path.Combine(work, "daemon.pid"), endpoint);
        var result = new CriuRestoreResult
        {
            Workload = checkpoint.Workload.Name,
            Daemon = daemon.Label,
            DaemonCommand = CommandTemplate.Join(argv),
            Transport = transport,
            WorkDirectory = work,
            BytesExpected = checkpoint.Workload.TotalBytes,
            LazyBytes = checkpoint.LazyBytes,
        };
        string DaemonTail() => $"daemon log: {Tail(daemonLog)}; daemon stdout/stderr: {CriuTool.Tail(ReadText(daemonOut), 400)}";
        CriuRestoreResult Finish() => result with { Failures = failures, Notes = notes };

        using var daemonProcess = ReapedProcess.Start(new ReapedProcessOptions { Argv = argv, LogPath = daemonOut, Deadline = RunBound(), StatusPipe = !daemon.Detach, WorkingDirectory = work });
        long start = daemonProcess.SpawnedNs;
        result = result with { DaemonCommand = CommandTemplate.Join(daemonProcess.Argv) };
        Progress($"{checkpoint.Workload.Name} @{daemon.Label}: started `{result.DaemonCommand}`");
        RssSampler? rss = null;
        try
        {
            // Listening: the status byte, or (detached) the parent's exit 0 and the pid file.
            int daemonPid;
            long listening;
            if (!daemon.Detach)
            {
                var (pid, pidProblem) = await WithinAsync(daemonProcess.MainPid, Short, cancellationToken).ConfigureAwait(false);
                if (pid == 0)
                {
                    failures.Add($"the daemon did not start: {pidProblem}; {DaemonTail()}");
                    return Finish();
                }

                daemonPid = pid;
                rss = new RssSampler(daemonPid, TimeSpan.FromMilliseconds(10));
                var (arrived, problem) = await daemonProcess.WaitForStatusByteAsync(Options.ListenTimeout, cancellationToken).ConfigureAwait(false);
                if (arrived is null)
                {
                    failures.Add($"the daemon did not signal readiness on --status-fd: {problem}; {DaemonTail()}");
                    return Finish();
                }

                listening = arrived.Value;
            }
            else
            {
                var (parent, problem) = await WithinAsync(daemonProcess.MainExit, Options.ListenTimeout, cancellationToken).ConfigureAwait(false);
                if (parent is not { ExitCode: 0 })
                {
                    failures.Add($"the daemon's -d parent {(parent is null ? $"did not return: {problem}" : $"failed: {parent}")}; {DaemonTail()}");
                    return Finish();
                }

                listening = parent.MonotonicNs;
                int? pid = await ReadPidFileAsync(Path.Combine(work, "daemon.pid")).ConfigureAwait(false);
                if (pid is null)
                {
                    failures.Add($"the detached daemon wrote no pid into {Path.Combine(work, "daemon.pid")}; {DaemonTail()}");
                    return Finish();
                }

                daemonPid = pid.Value;
                rss = new RssSampler(daemonPid, TimeSpan.FromMilliseconds(10));
            }

            result = result with { ListeningSeconds = MonotonicClock.Seconds(start, listening) };
            // A daemon listens before it signals, so the socket is there at once; the grace covers slow file systems only.
            if (!await AppearsAsync(Path.Combine(work, SocketName), TimeSpan.FromSeconds(1)).ConfigureAwait(false))
            {
                notes.Add($"the daemon signalled readiness but {SocketName} is not in {work}");
            }

            if (Options.BeforeRestore is { } beforeRestore)
            {
                await beforeRestore(new RestoreMoment(daemonPid, 0, work)).WaitAsync(Options.RestoreTimeout, cancellationToken).ConfigureAwait(false);
            }

            // The restore: -d returns once the tree runs; the tree is then reparented to the restore's reaper.
            var restoreArgv = CriuArgv("restore", "-D", imagesDir, "-W", work, "--lazy-pages", "-d", "--pidfile", Path.Combine(work, "restore.pid"), "-o", Path.Combine(work, "restore.log"));
            restoreArgv = isolation?.Wrap(restoreArgv) ?? restoreArgv;
            using var restore = ReapedProcess.Start(new ReapedProcessOptions { Argv = restoreArgv, LogPath = Path.Combine(work, "restore.out"), Deadline = Options.RestoreTimeout + Options.RunTimeout + Short, WorkingDirectory = work });
            Task? during = null;
            if (Options.DuringRestore is { } duringRestore)
            {
                var (restorePid, _) = await WithinAsync(restore.MainPid, Short, cancellationToken).ConfigureAwait(false);
                during = duringRestore(new RestoreMoment(daemonPid, restorePid, work));
            }

            var (restored, restoreProblem) = await WithinAsync(restore.MainExit, Options.RestoreTimeout, cancellationToken).ConfigureAwait(false);
            if (during is not null)
            {
                // Its failure (an assertion, a bound passed) is the test's: it surfaces here, not as a restore failure.
                await during.WaitAsync(Options.RestoreTimeout, cancellationToken).ConfigureAwait(false);
            }
            if (restored is not { ExitCode: 0 })
            {
                failures.Add($"`{CommandTemplate.Join(restoreArgv)}` {(restored is null ? $"did not return: {restoreProblem}" : $"failed: {restored}")}; restore log: {Tail(Path.Combine(work, "restore.log"))}; {DaemonTail()}");
                return Finish();
            }

            result = result with
            {
                RestoreReturnedSeconds = MonotonicClock.Seconds(start, restored.MonotonicNs),
                RestoreSeconds = MonotonicClock.Seconds(restore.SpawnedNs, restored.MonotonicNs),
            };
            int? root = await ReadPidFileAsync(Path.Combine(work, "restore.pid")).ConfigureAwait(false);
            if (root is null)
            {
                failures.Add($"criu restore returned 0 but wrote no pid into {Path.Combine(work, "restore.pid")}");
                return Finish();
            }

            if (Options.BeforeTrigger is { } beforeTrigger)
            {
                await beforeTrigger(new RestoredTree(daemonPid, root.Value, work) { Source = source }).ConfigureAwait(false);
            }

            string rootAtTrigger = RootState(root.Value);
            long trigger = MonotonicClock.NowNs();
            if (SpawnNative.Kill(root.Value, CriuNative.Sigusr1) != 0)
            {
                failures.Add($"could not trigger the restored root {root}: {LinuxException.FromLast("kill(SIGUSR1)").Message}");
            }

            var (tree, treeProblem) = await WithinAsync(restore.Completion, Options.RunTimeout, cancellationToken).ConfigureAwait(false);
            if (tree is null)
            {
                failures.Add($"the restored tree did not finish within {Options.RunTimeout.TotalSeconds:0} s after the trigger ({treeProblem}): killed by pid");
                tree = await restore.EndAsync(TimeSpan.Zero).ConfigureAwait(false);
            }

            var rootExit = tree.Exits.FirstOrDefault(e => e.Pid == root.Value);
            result = result with { RootExitCode = rootExit?.ExitCode, RootAtTrigger = rootAtTrigger };
            if (rootExit is not { ExitCode: 0 })
            {
                string meaning = rootExit?.ExitCode switch
                {
                    1 => " (a task found wrong bytes)",
                    3 => " (a task timed out)",
                    _ => "",
                };
                failures.Add($"the restored root (pid {root}) {(rootExit is null ? "was not reaped" : rootExit.ToString())}{meaning}; workload log: {CriuTool.Tail(WorkloadLogSinceDump(checkpoint, resultsDirectory), 600)}");
            }

            // The daemon must see every page served and exit 0 by itself.
            var (daemonEnd, _) = await WithinAsync(daemonProcess.Completion, Options.DaemonExitTimeout, cancellationToken).ConfigureAwait(false);
            if (daemonEnd is null)
            {
                failures.Add($"the daemon did not exit within {Options.DaemonExitTimeout.TotalSeconds:0} s after the restored tree ended: killed by pid; {DaemonTail()}");
                daemonEnd = await daemonProcess.EndAsync(TimeSpan.Zero).ConfigureAwait(false);
            }
            else
            {
                var daemonExit = daemonEnd.Exits.FirstOrDefault(e => e.Pid == daemonPid);
                if (daemonExit is not { ExitCode: 0 })
                {
                    failures.Add($"the daemon (pid {daemonPid}) {(daemonExit is null ? "was not reaped" : daemonExit.ToString())}; {DaemonTail()}");
                }

                result = result with { DaemonExitCode = daemonExit?.ExitCode };
            }

            double cpu = daemonEnd.Exits.Sum(e => e.CpuSeconds);
            result = result with
            {
                DaemonCpuSeconds = cpu,
                DaemonCpuSecondsPerGiB = checkpoint.LazyBytes > 0 ? cpu / (checkpoint.LazyBytes / (double)(1L << 30)) : double.NaN,
                DaemonMaxRssMiB = daemonEnd.Exits.Count == 0 ? double.NaN : daemonEnd.Exits.Max(e => e.MaxRssKiB) / 1024.0,
            };
            KeepTaskResults(resultsDirectory, work);
            return CollectResults(Finish(), checkpoint, resultsDirectory, start, trigger, failures, notes, rss);
        }
        finally
        {
            rss?.Dispose();
        }
    }

    private static CriuRestoreResult CollectResults(CriuRestoreResult result, CriuCheckpoint checkpoint, string resultsDirectory, long start, long trigger, List<string> failures, List<string> notes, RssSampler? rss)
    {
        var tasks = new List<CriuTaskFigures>();
        long verified = 0;
        long lastVerified = long.MinValue;
        bool all = true;
        foreach (var ready in checkpoint.Ready)
        {
            var path = Path.Combine(resultsDirectory, $"result-{ready.Task}.json");
            if (!File.Exists(path))
            {
                failures.Add($"task {ready.Task} wrote no result ({path}): it did not finish");
                tasks.Add(new CriuTaskFigures { Task = ready.Task, Problem = "no result" });
                all = false;
                continue;
            }

            WorkloadTaskReport report;
            try
            {
                report = WorkloadTaskReport.Parse(File.ReadAllText(path), path);
            }
            catch (FormatException ex)
            {
                failures.Add(ex.Message);
                all = false;
                continue;
            }

            var problem = checkpoint.Workload.Problem(ready, report);
            if (problem is not null)
            {
                failures.Add($"task {ready.Task}: {problem}");
                all = false;
            }

            verified += report.BytesVerified;
            lastVerified = Math.Max(lastVerified, report.VerifiedMonoNs);
            tasks.Add(new CriuTaskFigures
            {
                Task = report.Task,
                BytesVerified = report.BytesVerified,
                P50Us = Micro(report.P50Ns),
                P99Us = Micro(report.P99Ns),
                MaxUs = Micro(report.MaxNs),
                TouchSeconds = report.TouchNs is { } touch ? touch / 1e9 : double.NaN,
                CpuSeconds = report.CpuNs is { } cpuNs ? cpuNs / 1e9 : double.NaN,
                RunDelaySeconds = report.RunDelayNs is { } delayNs ? delayNs / 1e9 : double.NaN,
                BlockedSeconds = report is { CpuNs: { } c, RunDelayNs: { } d }
                    ? Math.Max(0, report.VerifiedMonoNs - report.TriggerMonoNs - c - d) / 1e9
                    : double.NaN,
                MinorFaults = report.MinorFaults is { } minor ? minor : double.NaN,
                VerifiedSeconds = MonotonicClock.Seconds(start, report.VerifiedMonoNs),
                Problem = problem,
            });
        }

        bool complete = all && tasks.Count == checkpoint.Workload.TaskCount;
        if (complete && verified != checkpoint.Workload.TotalBytes)
        {
            failures.Add($"the tasks verified {verified} bytes, {checkpoint.Workload.TotalBytes} expected");
        }

        return result with
        {
            Tasks = tasks,
            BytesVerified = verified,
            AllVerifiedSeconds = complete ? MonotonicClock.Seconds(start, lastVerified) : double.NaN,
            TriggerToVerifiedSeconds = complete ? MonotonicClock.Seconds(trigger, lastVerified) : double.NaN,
            DaemonPeakAnonRssMiB = rss?.PeakAnonMiB ?? double.NaN,
            Failures = failures,
            Notes = notes,
        };
    }

    private static double Micro(long? ns) => ns is { } value ? value / 1e3 : double.NaN;

    private async Task<CriuRestoreResult> RequireSourceExitAsync(CriuRestoreResult result, ReapedProcess source, string what, string logPath, CancellationToken cancellationToken)
    {
        var (exit, problem) = await WithinAsync(source.MainExit, Options.DaemonExitTimeout, cancellationToken).ConfigureAwait(false);
        if (exit is { ExitCode: 0 })
        {
            return result;
        }

        source.Terminate();
        return result with { Failures = [.. result.Failures, $"{what} {(exit is null ? $"did not exit by itself ({problem}): killed by pid" : $"failed: {exit}")}; {Tail(logPath)}"] };
    }

    private ReapedProcess StartWorkload(CriuWorkload workload, string workloadDir, bool pidNamespace)
    {
        if (CriuHelpers.MissingReason() is { } missing)
        {
            throw new CriuHarnessException(missing);
        }

        var command = workload.Command(workloadDir);
        Progress($"{workload.Name}: starting `{CommandTemplate.Join(command)}`{(pidNamespace ? " as PID 1 of a new pid namespace" : "")}");
        return ReapedProcess.Start(new ReapedProcessOptions
        {
            Argv = command,
            LogPath = Path.Combine(workloadDir, "workload.log"),
            Deadline = workload.ReadyTimeout + Options.DumpTimeout + RunBound(),
            WorkingDirectory = workloadDir,
            NewSession = true,
            NewPidNamespace = pidNamespace,
        });
    }

    private static async Task<IReadOnlyList<WorkloadReady>> WaitForReadyAsync(CriuWorkload workload, string workloadDir, ReapedProcess source, CancellationToken cancellationToken)
    {
        long deadline = MonotonicClock.NowNs() + (long)(workload.ReadyTimeout.TotalMilliseconds * 1e6);
        var ready = new WorkloadReady?[workload.TaskCount];
        while (true)
        {
            for (int task = 0; task < ready.Length; task++)
            {
                var path = Path.Combine(workloadDir, $"ready-{task}");
                if (ready[task] is null && File.Exists(path))
                {
                    try
                    {
                        ready[task] = WorkloadReady.Parse(await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), path);
                    }
                    catch (FormatException ex)
                    {
                        throw new CriuHarnessException(ex.Message, ex);
                    }
                }
            }

            if (ready.All(r => r is not null))
            {
                return ready!;
            }

            if (source.MainExit.IsCompleted || source.Completion.IsCompleted)
            {
                throw new CriuHarnessException($"{workload.Name} ended before every task was ready ({ready.Count(r => r is not null)} of {ready.Length}); its log: {source.LogTail(600)}");
            }

            if (MonotonicClock.NowNs() > deadline)
            {
                throw new CriuHarnessException($"{workload.Name}: {ready.Count(r => r is not null)} of {ready.Length} tasks ready after {workload.ReadyTimeout.TotalSeconds:0} s; its log: {source.LogTail(600)}");
            }

            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<int> RootPidAsync(ReapedProcess source, CriuWorkload workload)
    {
        var (pid, problem) = await WithinAsync(source.MainPid, Short, CancellationToken.None).ConfigureAwait(false);
        return pid != 0 ? pid : throw new CriuHarnessException($"{workload.Name}: the reaper did not report the workload's pid: {problem}");
    }

    private static async Task EndWorkloadAsync(ReapedProcess source, CriuWorkload workload)
    {
        var (outcome, problem) = await WithinAsync(source.Completion, ReapBound, CancellationToken.None).ConfigureAwait(false);
        if (outcome is null)
        {
            throw new CriuHarnessException($"{workload.Name}: the dumped tree was not gone {ReapBound.TotalSeconds:0} s after the dump ({problem})");
        }
    }

    private (string WorkloadDir, string ImagesDir) PrepareRun(string runDirectory, string images)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDirectory);
        var workloadDir = Path.Combine(runDirectory, "wl");
        var imagesDir = Path.Combine(runDirectory, images);
        Directory.CreateDirectory(workloadDir);
        Directory.CreateDirectory(imagesDir);
        if (Directory.EnumerateFileSystemEntries(imagesDir).Any())
        {
            throw new CriuHarnessException($"{imagesDir} is not empty: each checkpoint needs a fresh run directory");
        }

        Progress($"run directory {runDirectory} (criu {Criu.Path})");
        return (workloadDir, imagesDir);
    }

    /// <summary>
    /// The tasks' result lines and slow-touch lists (<c>slow-N.tsv</c>, touches over 250 µs) are copied into the run's
    /// own directory beside its daemon log, since the next restore of the checkpoint starts without them: with
    /// <c>--keep-temp</c> every run's slow touches can be laid beside its daemon's log.
    /// </summary>
    private static void KeepTaskResults(string resultsDirectory, string work)
    {
        if (!Directory.Exists(resultsDirectory) || !Directory.Exists(work))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(resultsDirectory, "result-*")
                     .Concat(Directory.EnumerateFiles(resultsDirectory, "slow-*")))
        {
            File.Copy(file, Path.Combine(work, Path.GetFileName(file)), overwrite: true);
        }
    }

    /// <summary>
    /// Before each restore of the same checkpoint: no result of an earlier restore may be mistaken for this one's, and
    /// the workload's log must have its size at dump time again (CRIU refuses to restore a file open at dump time whose
    /// size changed; an earlier restored tree may have appended to it).
    /// </summary>
    private static void ResetWorkload(CriuCheckpoint checkpoint)
    {
        foreach (var stale in Directory.EnumerateFiles(checkpoint.WorkloadDirectory, "result-*")
                     .Concat(Directory.EnumerateFiles(checkpoint.WorkloadDirectory, "slow-*")))
        {
            File.Delete(stale);
        }

        if (File.Exists(checkpoint.WorkloadLogPath) && new FileInfo(checkpoint.WorkloadLogPath).Length != checkpoint.WorkloadLogSizeAtDump)
        {
            using var log = new FileStream(checkpoint.WorkloadLogPath, FileMode.Open, FileAccess.Write);
            log.SetLength(checkpoint.WorkloadLogSizeAtDump);
        }
    }

    private static string WorkloadLogSinceDump(CriuCheckpoint checkpoint, string workloadDirectory)
    {
        var text = ReadText(Path.Combine(workloadDirectory, Path.GetFileName(checkpoint.WorkloadLogPath)));
        return text.Length > checkpoint.WorkloadLogSizeAtDump ? text[(int)Math.Min(text.Length, checkpoint.WorkloadLogSizeAtDump)..] : text;
    }

    /// <summary>
    /// The destination of a restore through a page server: the checkpoint split the way <c>criu dump --lazy-pages</c>
    /// leaves it (the eager part: every image, the pages flagged lazy removed from pages-*.img), made once.
    /// </summary>
    private static string EagerPart(CriuCheckpoint checkpoint)
    {
        var destination = Path.Combine(checkpoint.RunDirectory, "img-eager");
        if (!Directory.Exists(destination))
        {
            var staging = Path.Combine(checkpoint.RunDirectory, "split.tmp");
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            CheckpointSplitter.Split(checkpoint.ImagesDirectory, Path.Combine(staging, "eager"), Path.Combine(staging, "lazy"));
            Directory.Move(Path.Combine(staging, "eager"), destination);
            Directory.Delete(staging, recursive: true);
        }

        return destination;
    }

    private static string? RemoteUnsupported(CriuDaemonSpec daemon) =>
        new DaemonUnderTest(daemon.Template, daemon.IsOwnEngine).Supports("--page-server")
            ? null
            : $"the daemon `{daemon.DisplayName}` does not offer --page-server (its --help does not mention it): it cannot fetch pages from a remote source";

    private static CriuRestoreResult NotRun(CriuCheckpoint checkpoint, CriuDaemonSpec daemon, string work, CriuTransport transport, string reason) => new()
    {
        Workload = checkpoint.Workload.Name,
        Daemon = daemon.Label,
        DaemonCommand = daemon.DisplayName,
        Transport = transport,
        WorkDirectory = work,
        BytesExpected = checkpoint.Workload.TotalBytes,
        LazyBytes = checkpoint.LazyBytes,
        Failures = [reason],
    };

    private IReadOnlyList<string> CriuArgv(params string[] args)
    {
        var argv = new List<string> { Criu.Path };
        argv.AddRange(args);
        bool dumpOrRestore = args[0] is "dump" or "restore";
        if (Options.ShellJob && dumpOrRestore)
        {
            argv.Add("--shell-job");
        }

        if (Options.CriuVerbosity is { } level)
        {
            argv.Add(string.Create(CultureInfo.InvariantCulture, $"-v{level}"));
        }

        return argv;
    }

    /// <summary>State, SigBlk, SigPnd, ShdPnd of /proc/PID/status and /proc/PID/syscall, one line (best effort).</summary>
    private static string RootState(int pid)
    {
        try
        {
            var status = File.ReadAllLines($"/proc/{pid}/status")
                .Where(l => l.StartsWith("State:", StringComparison.Ordinal) || l.StartsWith("SigBlk:", StringComparison.Ordinal)
                    || l.StartsWith("SigPnd:", StringComparison.Ordinal) || l.StartsWith("ShdPnd:", StringComparison.Ordinal))
                .Select(l => string.Join(' ', l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)));
            var syscall = File.ReadAllText($"/proc/{pid}/syscall").Split(' ')[0].Trim();
            return $"{string.Join("; ", status)}; syscall {syscall}";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"unreadable: {ex.Message}";
        }
    }

    private TimeSpan RunBound() => Options.ListenTimeout + Options.RestoreTimeout + Options.RunTimeout + Options.DaemonExitTimeout + TimeSpan.FromSeconds(30);

    private static async Task<(T Value, string? Problem)> WithinAsync<T>(Task<T> task, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            return (await task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false), null);
        }
        catch (TimeoutException)
        {
            return (default!, $"nothing within {timeout.TotalSeconds:0.#} s");
        }
        catch (InvalidOperationException ex)
        {
            return (default!, ex.Message);
        }
    }

    private static async Task<int?> ReadPidFileAsync(string path)
    {
        long deadline = MonotonicClock.NowNs() + (long)(Short.TotalMilliseconds * 1e6);
        while (MonotonicClock.NowNs() < deadline)
        {
            if (File.Exists(path) && int.TryParse((await File.ReadAllTextAsync(path).ConfigureAwait(false)).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid > 0)
            {
                return pid;
            }

            await Task.Delay(5).ConfigureAwait(false);
        }

        return null;
    }

    private static async Task<bool> AppearsAsync(string path, TimeSpan timeout)
    {
        long deadline = MonotonicClock.NowNs() + (long)(timeout.TotalMilliseconds * 1e6);
        while (!File.Exists(path))
        {
            if (MonotonicClock.NowNs() > deadline)
            {
                return false;
            }

            await Task.Delay(5).ConfigureAwait(false);
        }

        return true;
    }

    private static string ReadText(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : "";
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static string Tail(string logPath) => File.Exists(logPath) ? $"{logPath} ends: {CriuTool.Tail(ReadText(logPath), LogTailChars)}" : $"{logPath} absent";

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    private void Progress(string line) => Options.Progress?.Invoke(line);
}
