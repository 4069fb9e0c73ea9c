using System.Diagnostics;
using LazyActors.Tools.Bench.Criu;
using LazyActors.Tools.Synthetic;

namespace LazyActors.Tools.Bench;

/// <summary>
/// The <c>bench</c> verb's work: probes first, then every selected scenario <see cref="BenchOptions.Runs"/> times
/// with a fresh daemon and fresh simulated tasks each time. Synthetic checkpoints are written once per invocation
/// into a temporary directory (one per distinct shape) and deleted at the end with the work dirs and logs.
/// </summary>
public sealed class BenchRunner(BenchOptions options)
{
    private static readonly TimeSpan MinimumRunTime = TimeSpan.FromSeconds(20);
    private string? _daemonUnavailable;
    private Stopwatch _clock = new();

    /// <summary>Seed of the synthetic page pattern.</summary>
    public const ushort PatternSeed = 0xB3C4;

    /// <summary>Runs everything and returns the report.</summary>
    public BenchReport Run()
    {
        var watch = Stopwatch.StartNew();
        _clock = watch;
        var started = DateTimeOffset.UtcNow;
        var daemons = options.EffectiveDaemons
            .Select(template => template is null ? DaemonUnderTest.OwnEngine(options.OwnHostPrefix) : new DaemonUnderTest(template, isOwnEngine: false))
            .ToList();
        using var runDelay = RunDelayAccounting.Enable();
        options.Progress?.Invoke($"run-delay accounting: {runDelay.Status}");
        var probes = ProbeSuite.Run(options.Probes, options.Progress);
        var root = Path.Combine(options.TempRoot ?? Path.GetTempPath(), $"lazyactors-bench-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        var summaries = new List<ScenarioSummary>();
        try
        {
            Directory.CreateDirectory(root);
            var checkpoints = new Dictionary<(int, long), string>();
            foreach (var daemon in daemons)
            {
                _daemonUnavailable = null;
                var runner = new ScenarioRunner(daemon, options);
                foreach (var scenario in options.Scenarios)
                {
                    var summary = RunScenario(scenario, daemon, runner, probes, root, checkpoints);
                    summaries.Add(daemons.Count == 1 ? summary : summary with { Scenario = $"{summary.Scenario} @{DaemonLabel(daemon)}", Daemon = daemon.DisplayName });
                }
            }
        }
        finally
        {
            if (options.KeepTemp)
            {
                options.Progress?.Invoke($"kept {root}");
            }
            else
            {
                TryDelete(root);
            }
        }

        return new BenchReport
        {
            Date = started,
            Machine = MachineInfo.Current(),
            Daemon = string.Join(" | ", daemons.Select(d => d.DisplayName)),
            Runs = options.Runs,
            Probes = probes,
            Scenarios = summaries,
            ElapsedSeconds = watch.Elapsed.TotalSeconds,
        };
    }

    /// <summary>
    /// <c>--restorer criu</c>: the probes, then every CRIU scenario with every daemon (<see cref="CriuBenchRunner"/>),
    /// and the report.
    /// </summary>
    public async Task<BenchReport> RunCriuAsync(CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var started = DateTimeOffset.UtcNow;
        var probes = ProbeSuite.Run(options.Probes, options.Progress);
        var runner = new CriuBenchRunner(options);
        var summaries = await runner.RunAsync(watch, cancellationToken).ConfigureAwait(false);
        return new BenchReport
        {
            Date = started,
            Machine = MachineInfo.Current(),
            Daemon = string.Join(" | ", summaries.Select(s => s.Daemon).Distinct()),
            Runs = options.Runs,
            Probes = probes,
            Criu = runner.CriuDescription,
            CriuScenarios = summaries,
            ElapsedSeconds = watch.Elapsed.TotalSeconds,
        };
    }

    private ScenarioSummary RunScenario(BenchScenario scenario, DaemonUnderTest daemon, ScenarioRunner runner, ProbeReport probes, string root, Dictionary<(int, long), string> checkpoints)
    {
        if (scenario.UnavailableReason is not null)
        {
            return ScenarioSummary.Skip(scenario, scenario.UnavailableReason);
        }

        if (probes.Error is not null)
        {
            return ScenarioSummary.Skip(scenario, $"userfaultfd unavailable ({probes.Error})");
        }

        if (scenario.NoBackground && !daemon.Supports(BenchScenarios.NoBackgroundFlag))
        {
            return ScenarioSummary.Skip(scenario, $"the daemon's --help does not offer {BenchScenarios.NoBackgroundFlag} (faults without background push)");
        }

        if (scenario.FromPageServer && !daemon.Supports(BenchScenarios.PageServerFlag))
        {
            return ScenarioSummary.Skip(scenario, $"the daemon's --help does not offer {BenchScenarios.PageServerFlag} (fetching from a remote page source)");
        }

        if (scenario.AkkaTransport && !daemon.Supports(BenchScenarios.TransportFlag))
        {
            return ScenarioSummary.Skip(scenario, $"the daemon's --help does not offer {BenchScenarios.TransportFlag} (the Akka transport)");
        }

        if (_daemonUnavailable is not null)
        {
            return ScenarioSummary.Skip(scenario, $"the daemon did not start in an earlier scenario ({_daemonUnavailable})");
        }

        var images = CheckpointFor(scenario, root, checkpoints);
        var runs = new List<ScenarioRun>();
        for (int i = 0; i < options.Runs; i++)
        {
            var left = options.EffectiveTimeBudget - _clock.Elapsed;
            if (left < MinimumRunTime)
            {
                var note = $"time budget of {options.EffectiveTimeBudget.TotalMinutes:0.#} min spent after {i} of {options.Runs} runs";
                return i == 0 ? ScenarioSummary.Skip(scenario, note) : ScenarioSummary.From(scenario, runs, probes) with { Skipped = note };
            }

            options.Progress?.Invoke($"{scenario.Name}: run {i + 1}/{options.Runs}");
            var tag = $"{DaemonLabel(daemon)}-{scenario.Name}-{i + 1}";
            var workDir = Path.Combine(root, $"work-{tag}");
            var log = Path.Combine(root, $"daemon-{tag}.log");
            var restoreTimeout = Min(options.RestoreTimeout, left - options.ReadyTimeout - options.ExitTimeout - TimeSpan.FromSeconds(35));
            var run = runner.RunOnce(scenario, images, workDir, log, restoreTimeout);
            runs.Add(run);
            TryDelete(workDir);
            options.Progress?.Invoke(run.Ok
                ? $"{scenario.Name}: run {i + 1}: {run.RestoreToVerifiedSeconds:0.00} s, p50 {run.TouchP50Us:0.0} us, p99 {run.TouchP99Us:0.0} us, RSS {run.DaemonPeakRssMiB:0} MiB"
                : $"{scenario.Name}: run {i + 1}: FAILED: {run.Error}");
            if (!run.Ok && double.IsNaN(run.ListeningMs) && i == 0)
            {
                // The daemon never became ready: more runs (and scenarios) would fail the same way.
                _daemonUnavailable = scenario.Name;
                return ScenarioSummary.From(scenario, runs, probes) with { Skipped = "the daemon did not start (see the failed run)" };
            }
        }

        return ScenarioSummary.From(scenario, runs, probes);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>A short column label for a daemon: "lazyactors" for our own, else its program name and verb.</summary>
    public static string DaemonLabel(DaemonUnderTest daemon)
    {
        if (daemon.IsOwnEngine)
        {
            return "lazyactors";
        }

        var words = daemon.Template.Select(Path.GetFileName).Where(w => !string.IsNullOrEmpty(w)).Take(2);
        return string.Join('-', words!);
    }

    private string CheckpointFor(BenchScenario scenario, string root, Dictionary<(int, long), string> checkpoints)
    {
        var key = (scenario.Tasks, scenario.BytesPerTask);
        if (!checkpoints.TryGetValue(key, out var dir))
        {
            dir = Path.Combine(root, $"images-{scenario.Tasks}x{scenario.BytesPerTask >> 20}m");
            options.Progress?.Invoke($"writing synthetic checkpoint {scenario.Tasks} x {ProbeSuite.FormatSize(scenario.BytesPerTask)} to {dir}");
            SyntheticCheckpoint.Write(dir, new SyntheticCheckpointOptions(scenario.Tasks, scenario.BytesPerTask, PatternSeed));
            checkpoints[key] = dir;
        }

        return dir;
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
            // A temp dir: leaving it behind is not worth failing the bench.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
