using System.Text.Json.Serialization;
using LazyActors.Tools.Criu;

namespace LazyActors.Tools.Bench.Criu;

/// <summary>
/// One daemon on one scenario of <c>bench --restorer criu</c>: medians and ranges over its successful runs, every
/// run's full result, and why runs were skipped (CRIU or python3 absent, the daemon's run budget spent, ...).
/// </summary>
public sealed record CriuScenarioSummary
{
    /// <summary>The scenario's name.</summary>
    [JsonPropertyName("scenario")]
    public string Scenario { get; init; } = "";

    /// <summary>The scenario's description.</summary>
    [JsonPropertyName("description")]
    public string Description { get; init; } = "";

    /// <summary>The daemon's label (its column).</summary>
    [JsonPropertyName("daemon")]
    public string Daemon { get; init; } = "";

    /// <summary>Runs attempted.</summary>
    [JsonPropertyName("runs")]
    public int Runs { get; init; }

    /// <summary>Runs that verified every byte with a clean daemon exit.</summary>
    [JsonPropertyName("ok_runs")]
    public int OkRuns { get; init; }

    /// <summary>Why no run happened, or null.</summary>
    [JsonPropertyName("skipped")]
    public string? Skipped { get; init; }

    /// <summary>Why fewer runs than asked happened (e.g. the run budget), or null.</summary>
    [JsonPropertyName("cut_short")]
    public string? CutShort { get; init; }

    /// <summary>A failure of the scenario itself (the workload or the dump), which fails the bench.</summary>
    [JsonPropertyName("error")]
    public string? Error { get; init; }

    /// <summary><c>criu dump</c> of the scenario's checkpoint, seconds.</summary>
    [JsonPropertyName("dump_s")]
    public double DumpSeconds { get; init; } = double.NaN;

    /// <summary>Lazy bytes of the checkpoint (what the daemon serves).</summary>
    [JsonPropertyName("lazy_bytes")]
    public long LazyBytes { get; init; }

    /// <summary>Daemon start → listening, s.</summary>
    [JsonPropertyName("listening_s")]
    public MetricSummary ListeningSeconds { get; init; } = MetricSummary.Empty;

    /// <summary>Daemon start → <c>criu restore</c> returned, s.</summary>
    [JsonPropertyName("restore_returned_s")]
    public MetricSummary RestoreReturnedSeconds { get; init; } = MetricSummary.Empty;

    /// <summary><c>criu restore</c> itself, s.</summary>
    [JsonPropertyName("restore_s")]
    public MetricSummary RestoreSeconds { get; init; } = MetricSummary.Empty;

    /// <summary>Daemon start → every task verified (python: its first correct answer), s.</summary>
    [JsonPropertyName("all_verified_s")]
    public MetricSummary AllVerifiedSeconds { get; init; } = MetricSummary.Empty;

    /// <summary>Trigger → every task verified, s.</summary>
    [JsonPropertyName("trigger_to_verified_s")]
    public MetricSummary TriggerToVerifiedSeconds { get; init; } = MetricSummary.Empty;

    /// <summary>Worst task's first-touch median, µs.</summary>
    [JsonPropertyName("touch_p50_us")]
    public MetricSummary TouchP50Us { get; init; } = MetricSummary.Empty;

    /// <summary>Worst task's first-touch 99th percentile, µs.</summary>
    [JsonPropertyName("touch_p99_us")]
    public MetricSummary TouchP99Us { get; init; } = MetricSummary.Empty;

    /// <summary>Largest first touch, µs.</summary>
    [JsonPropertyName("touch_max_us")]
    public MetricSummary TouchMaxUs { get; init; } = MetricSummary.Empty;

    /// <summary>Slowest task's touch time, s.</summary>
    [JsonPropertyName("touch_s")]
    public MetricSummary TouchSeconds { get; init; } = MetricSummary.Empty;

    /// <summary>The python workload: its CPU between trigger and answer, s.</summary>
    [JsonPropertyName("task_cpu_s")]
    public MetricSummary TaskCpuSeconds { get; init; } = MetricSummary.Empty;

    /// <summary>The python workload: runnable without a CPU between trigger and answer, s.</summary>
    [JsonPropertyName("task_run_delay_s")]
    public MetricSummary TaskRunDelaySeconds { get; init; } = MetricSummary.Empty;

    /// <summary>The python workload: blocked (in faults) between trigger and answer, s.</summary>
    [JsonPropertyName("task_blocked_s")]
    public MetricSummary TaskBlockedSeconds { get; init; } = MetricSummary.Empty;

    /// <summary>The python workload: minor faults between trigger and answer.</summary>
    [JsonPropertyName("task_minor_faults")]
    public MetricSummary TaskMinorFaults { get; init; } = MetricSummary.Empty;

    /// <summary>Daemon CPU seconds.</summary>
    [JsonPropertyName("daemon_cpu_s")]
    public MetricSummary DaemonCpuSeconds { get; init; } = MetricSummary.Empty;

    /// <summary>Daemon CPU seconds per GiB served.</summary>
    [JsonPropertyName("daemon_cpu_s_per_gib")]
    public MetricSummary DaemonCpuSecondsPerGiB { get; init; } = MetricSummary.Empty;

    /// <summary>Daemon peak anonymous RSS, MiB.</summary>
    [JsonPropertyName("daemon_peak_anon_rss_mib")]
    public MetricSummary DaemonPeakAnonRssMiB { get; init; } = MetricSummary.Empty;

    /// <summary>Daemon ru_maxrss, MiB.</summary>
    [JsonPropertyName("daemon_maxrss_mib")]
    public MetricSummary DaemonMaxRssMiB { get; init; } = MetricSummary.Empty;

    /// <summary>Every run's result.</summary>
    [JsonPropertyName("run_details")]
    public IReadOnlyList<CriuRestoreResult> RunDetails { get; init; } = [];

    /// <summary>True when nothing of this scenario and daemon failed (skipping is not failing).</summary>
    [JsonIgnore]
    public bool Ok => Error is null && RunDetails.All(r => r.Ok);

    /// <summary>A daemon column that did not run, with the reason.</summary>
    public static CriuScenarioSummary Skip(CriuBenchScenario scenario, string daemon, string reason)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        return new() { Scenario = scenario.Name, Description = scenario.Description, Daemon = daemon, Skipped = reason };
    }

    /// <summary>Summarises <paramref name="runs"/> (only successful runs enter the medians).</summary>
    public static CriuScenarioSummary From(CriuBenchScenario scenario, string daemon, CriuCheckpoint checkpoint, IReadOnlyList<CriuRestoreResult> runs, string? cutShort)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(runs);
        var ok = runs.Where(r => r.Ok).ToList();
        MetricSummary Of(Func<CriuRestoreResult, double> pick) => BenchStatistics.Summarize(ok.Select(pick));
        return new CriuScenarioSummary
        {
            Scenario = scenario.Name,
            Description = scenario.Description,
            Daemon = daemon,
            Runs = runs.Count,
            OkRuns = ok.Count,
            CutShort = cutShort,
            DumpSeconds = checkpoint.DumpSeconds,
            LazyBytes = checkpoint.LazyBytes,
            ListeningSeconds = Of(r => r.ListeningSeconds),
            RestoreReturnedSeconds = Of(r => r.RestoreReturnedSeconds),
            RestoreSeconds = Of(r => r.RestoreSeconds),
            AllVerifiedSeconds = Of(r => r.AllVerifiedSeconds),
            TriggerToVerifiedSeconds = Of(r => r.TriggerToVerifiedSeconds),
            TouchP50Us = Of(r => r.TouchP50Us),
            TouchP99Us = Of(r => r.TouchP99Us),
            TouchMaxUs = Of(r => r.TouchMaxUs),
            TouchSeconds = Of(r => r.TouchSeconds),
            TaskCpuSeconds = Of(r => r.TaskCpuSeconds),
            TaskRunDelaySeconds = Of(r => r.TaskRunDelaySeconds),
            TaskBlockedSeconds = Of(r => r.TaskBlockedSeconds),
            TaskMinorFaults = Of(r => r.TaskMinorFaults),
            DaemonCpuSeconds = Of(r => r.DaemonCpuSeconds),
            DaemonCpuSecondsPerGiB = Of(r => r.DaemonCpuSecondsPerGiB),
            DaemonPeakAnonRssMiB = Of(r => r.DaemonPeakAnonRssMiB),
            DaemonMaxRssMiB = Of(r => r.DaemonMaxRssMiB),
            RunDetails = runs,
        };
    }
}
