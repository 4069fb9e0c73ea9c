using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Uffd;
using LazyActors.Host;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;

namespace LazyActors.Tools.Commands;

/// <summary>
/// <c>demo [--tasks 4] [--mib 64]</c>: what lazy restore is, in a few seconds. Writes a synthetic checkpoint to a
/// temporary directory, starts the engine in this process and restores the checkpoint with the restore simulator (real
/// processes, real userfaultfd). From "restore finished" on the tasks touch their memory at once while the engine pushes
/// the rest: a line every <see cref="RowInterval"/> (when something moved) shows, per task, the faults served and the
/// pages pushed side by side; a summary follows. Exit 0 only when every byte was verified.
/// </summary>
internal static class DemoCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private static readonly TimeSpan RowInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// The daemon's defaults favour fault latency on a busy tree: its threads run at nice -10 and bulk copies at real-time
    /// priority on every engine thread but one, which on a small machine keeps the tasks off the CPUs until the push is
    /// over, and the demo would show a copy. Here the engine pushes one task at a time at the tasks' own priority, so the
    /// tasks run beside it.
    /// </summary>
    private const string WatchableSettings =
        "lazy-actors.engine { background-tasks-at-once = 1, scheduling { engine-threads-nice = off, gate-priority = inherit } }";

    public static Command Create()
    {
        var tasks = new Option<int>("--tasks") { Description = "Processes in the synthetic tree.", DefaultValueFactory = _ => 4 };
        var mib = new Option<int>("--mib") { Description = "MiB of lazy memory per process.", DefaultValueFactory = _ => 64 };
        var touch = new Option<TouchOrder>("--touch") { Description = "First-touch order: rand, seq or none.", DefaultValueFactory = _ => TouchOrder.Rand };
        var threads = new Option<int>("--threads") { Description = "Touching threads per task.", DefaultValueFactory = _ => 1 };
        var timeout = new Option<int>("--timeout") { Description = "Seconds before everything is stopped.", DefaultValueFactory = _ => 120 };
        var keep = new Option<bool>("--keep") { Description = "Keep the temporary image directory." };
        var command = new Command("demo", "Lazy restore in a few seconds: synthetic checkpoint + lazy-pages engine + restore simulator, faults served beside the push, live.")
        {
            tasks, mib, touch, threads, timeout, keep,
        };
        command.SetAction((parse, cancel) => RunAsync(Math.Max(1, parse.GetValue(tasks)), Math.Max(1, parse.GetValue(mib)), parse.GetValue(touch),
            Math.Max(1, parse.GetValue(threads)), TimeSpan.FromSeconds(Math.Max(5, parse.GetValue(timeout))), parse.GetValue(keep), cancel));
        return command;
    }

    private static async Task<int> RunAsync(int taskCount, int mib, TouchOrder touch, int threads, TimeSpan timeout, bool keep, CancellationToken cancel)
    {
        try
        {
            using var probe = UserFaultFd.Create();
        }
        catch (LinuxException ex)
        {
            await Console.Error.WriteLineAsync($"demo: this kernel refuses userfaultfd ({ex.Message}); run as root or set vm.unprivileged_userfaultfd=1.").ConfigureAwait(false);
            return 2;
        }

        // The simulator blocks thread-pool threads while it waits for its task processes; keep the pool from starving.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, (2 * taskCount) + 8), io);
        var dir = Path.Combine(Path.GetTempPath(), $"lazy-actors-demo-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            var write = Stopwatch.StartNew();
            SyntheticCheckpoint.Write(dir, new SyntheticCheckpointOptions(taskCount, (long)mib << 20, 0x5eed));
            await SayAsync($"wrote a synthetic checkpoint of {taskCount} x {mib} MiB to {dir} in {write.Elapsed.TotalMilliseconds:0} ms").ConfigureAwait(false);

            var config = ConfigurationFactory.ParseString(WatchableSettings).WithFallback(HostConfiguration.Load(null));
            using var engine = LazyPagesEngine.Listen(EngineSettings.Create(config, dir));
            await SayAsync($"the engine listens on {engine.SocketPath}; it pushes one task at a time, in turns, at the tasks' own priority").ConfigureAwait(false);
            await SayAsync("      so that they run beside the push (background-tasks-at-once = 1, engine-threads-nice = off, gate-priority = inherit;").ConfigureAwait(false);
            await SayAsync("      the daemon's defaults favour fault latency on a busy machine instead)").ConfigureAwait(false);
            await SayAsync($"the restore simulator starts {taskCount} processes; each maps its memory at the dump addresses and hands its userfaultfd over").ConfigureAwait(false);

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            // The table below is the demo's output: the engine's own log stays at warnings.
            var quiet = ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING");
            var engineRun = engine.RunAsync(quiet, null, null, stop.Token);
            var clock = Stopwatch.StartNew();
            var restoreFinished = new RestoreFinishedMark(clock);
            var simOptions = new RestoreSimOptions { ImagesDir = dir, Touch = touch, Threads = threads, Timeout = timeout, Progress = restoreFinished.Observe };
            var simRun = Task.Run(() => new RestoreSimulator(simOptions).Run(), CancellationToken.None);

            var table = new ProgressTable();
            var nextRow = TimeSpan.Zero;
            while (!(simRun.IsCompleted && engineRun.IsCompleted) && clock.Elapsed < timeout + TimeSpan.FromSeconds(10))
            {
                await Task.Delay(5, CancellationToken.None).ConfigureAwait(false);
                var statistics = engine.Statistics;
                if (restoreFinished.At is { } at && clock.Elapsed >= nextRow && !table.Finished
                    && (statistics.Tasks.Count >= taskCount || engineRun.IsCompleted))
                {
                    if (!table.Started)
                    {
                        await SayAsync($"\"restore finished\" at {at.TotalSeconds:0.00} s: the tasks run and touch their memory at once; the engine serves their faults and pushes the rest").ConfigureAwait(false);
                        await Console.Out.WriteAsync(table.Header(statistics)).ConfigureAwait(false);
                    }

                    await Console.Out.WriteAsync(table.Row(statistics, clock.Elapsed - at, engineRun.IsCompleted)).ConfigureAwait(false);
                    nextRow = clock.Elapsed + RowInterval;
                }

                if (simRun.IsCompleted && !engineRun.IsCompleted && !(await simRun.ConfigureAwait(false)).Ok)
                {
                    await stop.CancelAsync().ConfigureAwait(false);
                }
            }

            if (!engineRun.IsCompleted)
            {
                await stop.CancelAsync().ConfigureAwait(false);
            }

            var result = await CompletedWithinAsync(engineRun, TimeSpan.FromSeconds(15)).ConfigureAwait(false)
                ?? new EngineResult(1, "the engine did not stop", engine.Statistics, clock.Elapsed);
            var report = await CompletedWithinAsync(simRun, TimeSpan.FromSeconds(15)).ConfigureAwait(false)
                ?? new SimReport { Ok = false, Error = "the restore simulator did not finish" };
            if (table.Started && !table.Finished)
            {
                await Console.Out.WriteAsync(table.Row(result.Statistics, clock.Elapsed - (restoreFinished.At ?? TimeSpan.Zero), final: true)).ConfigureAwait(false);
            }

            await Console.Out.WriteAsync(Summary(result, report)).ConfigureAwait(false);
            var ok = report.Ok && result.Succeeded && report.Tasks.Sum(t => t.Mismatches) == 0;
            await Console.Out.WriteLineAsync(ok ? "demo: OK, every byte verified" : $"demo: FAILED{(report.Error is null ? "" : ": " + report.Error)}{(result.Error is null ? "" : " / engine: " + result.Error)}").ConfigureAwait(false);
            return ok ? 0 : 1;
        }
        finally
        {
            if (!keep)
            {
                try
                {
                    Directory.Delete(dir, recursive: true);
                }
                catch (IOException)
                {
                    // best effort: a temporary directory
                }
            }
        }
    }

    private static Task SayAsync(string line) => Console.Out.WriteLineAsync("demo: " + line);

    /// <summary>The task's result, or null when it did not complete within <paramref name="limit"/>.</summary>
    private static async Task<T?> CompletedWithinAsync<T>(Task<T> task, TimeSpan limit)
        where T : class
    {
        try
        {
            return await task.WaitAsync(limit).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    private static string Summary(EngineResult result, SimReport report)
    {
        var text = new StringBuilder();
        text.AppendLine();
        text.AppendLine(string.Format(Inv, "{0,-12} {1,9} {2,8} {3,9} {4,9} {5,7} {6,8} {7,8} {8,9} {9,14} {10,10}",
            "task", "pages", "faults", "by-fault", "pushed", "zero", "p50_us", "p99_us", "max_us", "bytes_verified", "mismatches"));
        var byPid = report.Tasks.Where(t => t.Role == "task").GroupBy(t => t.Pid).ToDictionary(g => g.Key, g => g.First());
        foreach (var task in result.Statistics.Tasks)
        {
            byPid.TryGetValue(task.Pid, out var touch);
            var sim = task.IsForkChild ? null : touch;
            text.AppendLine(string.Format(Inv, "{0,-12} {1,9} {2,8} {3,9} {4,9} {5,7} {6,8:0.0} {7,8:0.0} {8,9:0.0} {9,14} {10,10}",
                task.Label, task.TotalPages, task.Faults, task.CopiedByFaults, task.CopiedByPusher, task.ZeroPages,
                sim?.P50Us ?? 0, sim?.P99Us ?? 0, sim?.MaxUs ?? 0, sim?.BytesVerified ?? 0, sim?.Mismatches ?? 0));
        }

        var faults = result.Statistics.Faults;
        var pushed = result.Statistics.Tasks.Sum(t => t.CopiedByPusher);
        text.AppendLine();
        text.AppendLine(string.Format(Inv, "faults served {0}, pages pushed {1}, pages copied by faults {2}, zero pages {3}",
            faults, pushed, result.Statistics.Tasks.Sum(t => t.CopiedByFaults), result.Statistics.Tasks.Sum(t => t.ZeroPages)));
        text.AppendLine(faults > 0
            ? "post-copy: the tasks ran before their memory was all there; what they touched first was served on demand, the rest was pushed beside them"
            : "no task touched a page before the push got there: on this machine the push outran the tasks (try --mib 256)");
        var touches = report.Tasks.Where(t => t.Error is null && t.Pages > 0).ToList();
        if (touches.Count > 0)
        {
            text.AppendLine(string.Format(Inv, "first touch: p50 {0:0.0} us (median of tasks), p99 {1:0.0} us (worst task), max {2:0.0} us",
                Median(touches.Select(t => t.P50Us)), touches.Max(t => t.P99Us), touches.Max(t => t.MaxUs)));
        }

        text.AppendLine(string.Format(Inv, "restore-finished to all verified: {0:0} ms; engine run {1:0} ms; bytes verified {2}, mismatches {3}",
            report.TouchToVerifiedMs, result.Elapsed.TotalMilliseconds, report.Tasks.Sum(t => t.BytesVerified), report.Tasks.Sum(t => t.Mismatches)));
        foreach (var failed in report.Tasks.Where(t => !t.Ok))
        {
            text.AppendLine($"  task {failed.Pid} ({failed.Role}): {failed.Error ?? failed.FirstMismatch}");
        }

        return text.ToString();
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length == 0 ? 0 : sorted[sorted.Length / 2];
    }

    /// <summary>
    /// Passes the simulator's progress lines through until it sends "restore finished", and remembers when that was;
    /// later lines (tasks verified) are left to the summary so that they do not cut through the table.
    /// </summary>
    private sealed class RestoreFinishedMark(Stopwatch clock)
    {
        private long _atTicks = -1;

        /// <summary>Time since the demo started when "restore finished" was sent, or null before.</summary>
        public TimeSpan? At => Volatile.Read(ref _atTicks) is var ticks and >= 0 ? TimeSpan.FromTicks(ticks) : null;

        public void Observe(string line)
        {
            if (At is not null)
            {
                return;
            }

            if (line.StartsWith("restore finished", StringComparison.Ordinal))
            {
                Volatile.Write(ref _atTicks, clock.Elapsed.Ticks);
                return;
            }

            Console.WriteLine("  restore-sim: " + line);
        }
    }

    /// <summary>One row per interval: for every task, the faults served and the pages pushed so far, side by side.</summary>
    private sealed class ProgressTable
    {
        private const int CellWidth = 18;

        public bool Started { get; private set; }

        public bool Finished { get; private set; }

        private long _lastTotal = -1;

        public string Header(EngineStatistics statistics)
        {
            Started = true;
            var labels = new StringBuilder("\n" + new string(' ', 9));
            var columns = new StringBuilder(string.Format(Inv, "{0,9}", "time"));
            foreach (var task in statistics.Tasks)
            {
                labels.Append(string.Format(Inv, "{0," + CellWidth + "}", "task " + task.Label));
                columns.Append(string.Format(Inv, "{0,8} {1,9}", "faults", "pushed"));
            }

            labels.Append(string.Format(Inv, "{0," + CellWidth + "}", "all"));
            columns.Append(string.Format(Inv, "{0,8} {1,9}", "faults", "pushed"));
            return labels + "\n" + columns + "\n";
        }

        /// <summary>
        /// The counters now, or nothing when they have not moved since the last row; <paramref name="final"/> marks the
        /// last row (every task complete or ended).
        /// </summary>
        public string Row(EngineStatistics statistics, TimeSpan sinceRestoreFinished, bool final)
        {
            Finished = final;
            var cells = statistics.Tasks.Select(t => (t.Faults, Pushed: t.CopiedByPusher)).ToList();
            var row = new StringBuilder(string.Format(Inv, "{0,7:+0.00} s", sinceRestoreFinished.TotalSeconds));
            foreach (var (faults, pushed) in cells)
            {
                row.Append(string.Format(Inv, "{0,8} {1,9}", faults, pushed));
            }

            var (allFaults, allPushed) = (cells.Sum(c => c.Faults), cells.Sum(c => c.Pushed));
            if (allFaults + allPushed == _lastTotal && !final)
            {
                return ""; // nothing moved since the last row
            }

            _lastTotal = allFaults + allPushed;
            row.Append(string.Format(Inv, "{0,8} {1,9}", allFaults, allPushed));
            if (final)
            {
                var phases = statistics.Tasks.GroupBy(t => t.Phase).Select(g => $"{g.Count()} {g.Key.ToString().ToLowerInvariant()}");
                row.Append("  tasks: ").AppendJoin(", ", phases);
            }

            return row.AppendLine().ToString();
        }
    }
}
