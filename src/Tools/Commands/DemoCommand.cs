using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
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
/// <c>demo [--tasks 4] [--mib 64]</c>: writes a synthetic checkpoint to a temporary directory, starts the engine in
/// this process, restores it with the restore simulator (real processes, real userfaultfd), shows live progress per
/// task and ends with a summary. Exit 0 only when every byte was verified.
/// </summary>
internal static class DemoCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static Command Create()
    {
        var tasks = new Option<int>("--tasks") { Description = "Processes in the synthetic tree.", DefaultValueFactory = _ => 4 };
        var mib = new Option<int>("--mib") { Description = "MiB of lazy memory per process.", DefaultValueFactory = _ => 64 };
        var touch = new Option<TouchOrder>("--touch") { Description = "First-touch order: rand, seq or none.", DefaultValueFactory = _ => TouchOrder.Rand };
        var threads = new Option<int>("--threads") { Description = "Touching threads per task.", DefaultValueFactory = _ => 1 };
        var timeout = new Option<int>("--timeout") { Description = "Seconds before everything is stopped.", DefaultValueFactory = _ => 120 };
        var keep = new Option<bool>("--keep") { Description = "Keep the temporary image directory." };
        var command = new Command("demo", "Synthetic checkpoint + lazy-pages engine + restore simulator, with live progress and a summary.")
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
            await Console.Out.WriteLineAsync(string.Format(Inv, "demo: wrote a synthetic checkpoint of {0} x {1} MiB to {2} in {3:0} ms", taskCount, mib, dir, write.Elapsed.TotalMilliseconds));

            using var engine = LazyPagesEngine.Listen(EngineSettings.Create(HostConfiguration.Load(null), dir));
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            // The live progress lines are the demo's output: the engine's own log stays at warnings.
            var quiet = Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING");
            var engineRun = engine.RunAsync(quiet, null, null, stop.Token);
            var simOptions = new RestoreSimOptions { ImagesDir = dir, Touch = touch, Threads = threads, Timeout = timeout };
            var simRun = Task.Run(() => new RestoreSimulator(simOptions).Run());

            var clock = Stopwatch.StartNew();
            var lastPrint = TimeSpan.Zero;
            while (!(simRun.IsCompleted && engineRun.IsCompleted) && clock.Elapsed < timeout + TimeSpan.FromSeconds(10))
            {
                await Task.Delay(50, CancellationToken.None).ConfigureAwait(false);
                if (clock.Elapsed - lastPrint >= TimeSpan.FromMilliseconds(500) || engineRun.IsCompleted)
                {
                    lastPrint = clock.Elapsed;
                    PrintProgress(engine.Statistics, clock.Elapsed);
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
            PrintSummary(result, report);
            var mismatches = report.Tasks.Sum(t => t.Mismatches);
            var ok = report.Ok && result.Succeeded && mismatches == 0;
            await Console.Out.WriteLineAsync(ok ? "demo: OK, every byte verified" : $"demo: FAILED{(report.Error is null ? "" : ": " + report.Error)}{(result.Error is null ? "" : " / engine: " + result.Error)}");
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

    private static void PrintProgress(EngineStatistics statistics, TimeSpan elapsed)
    {
        var parts = statistics.Tasks.Select(t =>
            string.Format(Inv, "{0} {1}/{2}{3}", t.Label, t.CopiedPages, t.TotalPages, t.Phase == TaskPhase.Serving ? "" : " " + t.Phase.ToString().ToLowerInvariant()));
        Console.WriteLine(string.Format(Inv, "[{0,6:0.0} s] {1}", elapsed.TotalSeconds, string.Join(" | ", parts)));
    }

    private static void PrintSummary(EngineResult result, SimReport report)
    {
        Console.WriteLine();
        Console.WriteLine(string.Format(Inv, "{0,-12} {1,9} {2,8} {3,9} {4,9} {5,7} {6,8} {7,8} {8,9} {9,14} {10,10}",
            "task", "pages", "faults", "by-fault", "pushed", "zero", "p50_us", "p99_us", "max_us", "bytes_verified", "mismatches"));
        var byPid = report.Tasks.Where(t => t.Role == "task").GroupBy(t => t.Pid).ToDictionary(g => g.Key, g => g.First());
        foreach (var task in result.Statistics.Tasks)
        {
            byPid.TryGetValue(task.Pid, out var touch);
            var sim = task.IsForkChild ? null : touch;
            Console.WriteLine(string.Format(Inv, "{0,-12} {1,9} {2,8} {3,9} {4,9} {5,7} {6,8:0.0} {7,8:0.0} {8,9:0.0} {9,14} {10,10}",
                task.Label, task.TotalPages, task.Faults, task.CopiedByFaults, task.CopiedByPusher, task.ZeroPages,
                sim?.P50Us ?? 0, sim?.P99Us ?? 0, sim?.MaxUs ?? 0, sim?.BytesVerified ?? 0, sim?.Mismatches ?? 0));
        }

        var touches = report.Tasks.Where(t => t.Error is null && t.Pages > 0).ToList();
        Console.WriteLine();
        Console.WriteLine(string.Format(Inv, "faults served {0}, pages pushed {1}, pages copied by faults {2}, zero pages {3}",
            result.Statistics.Faults, result.Statistics.Tasks.Sum(t => t.CopiedByPusher), result.Statistics.Tasks.Sum(t => t.CopiedByFaults),
            result.Statistics.Tasks.Sum(t => t.ZeroPages)));
        if (touches.Count > 0)
        {
            Console.WriteLine(string.Format(Inv, "first touch: p50 {0:0.0} us (median of tasks), p99 {1:0.0} us (worst task), max {2:0.0} us",
                Median(touches.Select(t => t.P50Us)), touches.Max(t => t.P99Us), touches.Max(t => t.MaxUs)));
        }

        Console.WriteLine(string.Format(Inv, "restore-finished to all verified: {0:0} ms; engine run {1:0} ms; bytes verified {2}, mismatches {3}",
            report.TouchToVerifiedMs, result.Elapsed.TotalMilliseconds, report.Tasks.Sum(t => t.BytesVerified), report.Tasks.Sum(t => t.Mismatches)));
        foreach (var failed in report.Tasks.Where(t => !t.Ok))
        {
            Console.WriteLine($"  task {failed.Pid} ({failed.Role}): {failed.Error ?? failed.FirstMismatch}");
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length == 0 ? 0 : sorted[sorted.Length / 2];
    }
}
