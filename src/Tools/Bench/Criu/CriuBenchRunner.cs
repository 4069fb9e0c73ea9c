using System.Diagnostics;
using System.Globalization;
using LazyActors.Tools.Criu;

namespace LazyActors.Tools.Bench.Criu;

/// <summary>
/// The scenarios of <c>bench --restorer criu</c>: each workload is dumped once by real CRIU, then restored lazily by
/// every daemon, run by run interleaved (run 1 of every daemon, then run 2, ...) so that machine noise hits them
/// alike. A daemon whose run takes longer than <see cref="BenchOptions.DaemonRunBudget"/> gets no more runs of that
/// scenario (the table says so). Checkpoints live in a short temporary directory, deleted per scenario.
/// </summary>
public sealed class CriuBenchRunner(BenchOptions options)
{
    private static readonly TimeSpan MinimumScenarioTime = TimeSpan.FromSeconds(60);

    /// <summary>What CRIU the runs use (path and version), or why there is none; set by <see cref="RunAsync"/>.</summary>
    public string CriuDescription { get; private set; } = "";

    /// <summary>Runs every selected scenario with every daemon; <paramref name="clock"/> measures the invocation's time budget.</summary>
    public async Task<IReadOnlyList<CriuScenarioSummary>> RunAsync(Stopwatch clock, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(clock);
        var summaries = new List<CriuScenarioSummary>();
        var availability = await CriuTool.LocateAsync(options.CriuPath).ConfigureAwait(false);
        var unavailable = availability.Problem ?? CriuHelpers.MissingReason();
        CriuDescription = availability.Tool is { } found ? $"{found.Path} ({found.Version})" : $"unavailable: {unavailable}";
        if (unavailable is not null || availability.Tool is null)
        {
            foreach (var scenario in options.CriuScenarios)
            {
                summaries.AddRange(options.CriuDaemons.Select(d => CriuScenarioSummary.Skip(scenario, d, unavailable ?? "CRIU unavailable")));
            }

            return summaries;
        }

        var daemons = options.CriuDaemons.Select(text => Parse(text, availability.Tool, options.OwnHostPrefix)).ToList();
        for (int i = 0; i < daemons.Count; i++)
        {
            // Columns are keyed by label: the same daemon given twice gets its position appended.
            if (daemons.Take(i).Any(d => d.Label == daemons[i].Label))
            {
                daemons[i] = daemons[i] with { Label = $"{daemons[i].Label}#{i + 1}" };
            }
        }

        var harness = new CriuHarness(availability.Tool, new CriuHarnessOptions { RunTimeout = options.CriuRunTimeout, Progress = options.Progress });
        var root = Path.Combine(options.TempRoot ?? "/tmp", $"lacb-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(root);
        try
        {
            for (int k = 0; k < options.CriuScenarios.Count; k++)
            {
                var scenario = options.CriuScenarios[k];
                var runDir = Path.Combine(root, $"s{k}");
                summaries.AddRange(await RunScenarioAsync(scenario, daemons, harness, runDir, clock, cancellationToken).ConfigureAwait(false));
                if (!options.KeepTemp)
                {
                    TryDelete(runDir);
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

        return summaries;
    }

    private async Task<IReadOnlyList<CriuScenarioSummary>> RunScenarioAsync(CriuBenchScenario scenario, IReadOnlyList<(string Label, CriuDaemonSpec? Spec, string? Problem)> daemonList, CriuHarness harness, string runDir, Stopwatch clock, CancellationToken cancellationToken)
    {
        // A remote scenario has one column per daemon and source: "daemon<-source".
        var sources = scenario.Remote ? options.CriuSources.Select(s => CriuSourceSpec.Parse(s, options.OwnHostPrefix, harness.Criu)).ToList() : [];
        var daemons = scenario.Remote
            ? daemonList.SelectMany(d => sources.Select(s => (Label: $"{d.Label}<-{s.Label}", d.Spec, d.Problem, Source: (CriuSourceSpec?)s))).ToList()
            : daemonList.Select(d => (d.Label, d.Spec, d.Problem, Source: (CriuSourceSpec?)null)).ToList();
        IReadOnlyList<CriuScenarioSummary> SkipAll(string reason) => daemons.Select(d => CriuScenarioSummary.Skip(scenario, d.Label, d.Problem ?? reason)).ToList();

        if (options.EffectiveTimeBudget - clock.Elapsed < MinimumScenarioTime)
        {
            return SkipAll($"time budget of {options.EffectiveTimeBudget.TotalMinutes:0.#} min spent");
        }

        var (workload, problem) = await scenario.WorkloadAsync().ConfigureAwait(false);
        if (workload is null)
        {
            return SkipAll(problem ?? "no workload");
        }

        CriuCheckpoint checkpoint;
        try
        {
            options.Progress?.Invoke($"{scenario.Name}: dumping {workload.Name}");
            checkpoint = await harness.DumpAsync(workload, runDir, cancellationToken).ConfigureAwait(false);
        }
        catch (CriuHarnessException ex)
        {
            return daemons.Select(d => new CriuScenarioSummary { Scenario = scenario.Name, Description = scenario.Description, Daemon = d.Label, Error = $"the checkpoint failed: {ex.Message}" }).ToList();
        }

        var runs = daemons.ToDictionary(d => d.Label, _ => new List<CriuRestoreResult>());
        var cut = daemons.ToDictionary(d => d.Label, _ => (string?)null);
        for (int i = 0; i < options.Runs; i++)
        {
            foreach (var (label, spec, _, source) in daemons)
            {
                if (spec is null || cut[label] is not null)
                {
                    continue;
                }

                if (options.EffectiveTimeBudget - clock.Elapsed < options.CriuRunTimeout)
                {
                    cut[label] = $"time budget of {options.EffectiveTimeBudget.TotalMinutes:0.#} min spent after {i} of {options.Runs} runs";
                    continue;
                }

                options.Progress?.Invoke($"{scenario.Name}: run {i + 1}/{options.Runs} @{label}");
                var watch = Stopwatch.StartNew();
                var result = source is null
                    ? await harness.RestoreAsync(checkpoint, spec, cancellationToken).ConfigureAwait(false)
                    : await harness.RestoreThroughPageServerAsync(checkpoint, spec, source, cancellationToken: cancellationToken).ConfigureAwait(false);
                runs[label].Add(result);
                options.Progress?.Invoke($"{scenario.Name}: run {i + 1} @{label}: " + (result.Ok
                    ? string.Create(CultureInfo.InvariantCulture, $"every task verified {result.AllVerifiedSeconds:0.000} s after the daemon's start (restore returned {result.RestoreReturnedSeconds:0.000} s), daemon CPU {result.DaemonCpuSeconds:0.00} s")
                    : $"FAILED: {string.Join("; ", result.Failures)}"));
                if (!result.Ok && double.IsNaN(result.ListeningSeconds))
                {
                    cut[label] = "the daemon did not start listening (see the failed run)";
                }
                else if (watch.Elapsed > options.DaemonRunBudget && i + 1 < options.Runs)
                {
                    cut[label] = string.Create(CultureInfo.InvariantCulture, $"run {i + 1} took {watch.Elapsed.TotalSeconds:0.0} s, over the {options.DaemonRunBudget.TotalSeconds:0} s budget of a run: no more runs of this daemon here");
                }
            }
        }

        return daemons.Select(d => d.Spec is null
            ? CriuScenarioSummary.Skip(scenario, d.Label, d.Problem ?? "unusable daemon")
            : CriuScenarioSummary.From(scenario, d.Label, checkpoint, runs[d.Label], cut[d.Label])).ToList();
    }

    private static (string Label, CriuDaemonSpec? Spec, string? Problem) Parse(string text, CriuTool criu, IReadOnlyList<string>? ownHostPrefix)
    {
        try
        {
            var spec = CriuDaemonSpec.Parse(text, criu, ownHostPrefix);
            return (spec.Label, spec, null);
        }
        catch (FormatException ex)
        {
            return (text, null, $"--daemon {text}: {ex.Message}");
        }
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
