using System.Text.Json.Serialization;

namespace LazyActors.Tools.Bench;

/// <summary>A scenario over all its runs: medians and ranges of the successful runs, ratios to the probes, targets.</summary>
public sealed record ScenarioSummary
{
    /// <summary>Scenario name.</summary>
    [JsonPropertyName("scenario")]
    public string Scenario { get; init; } = "";

    /// <summary>The daemon command, when several daemons are compared in one run.</summary>
    [JsonPropertyName("daemon")]
    public string? Daemon { get; init; }

    /// <summary>What the scenario restores and how it touches.</summary>
    [JsonPropertyName("description")]
    public string Description { get; init; } = "";

    /// <summary>Runs attempted / succeeded.</summary>
    [JsonPropertyName("runs")]
    public int Runs { get; init; }

    /// <summary>Runs that verified every byte.</summary>
    [JsonPropertyName("ok_runs")]
    public int OkRuns { get; init; }

    /// <summary>Why the scenario was skipped (unavailable, daemon option missing, daemon would not start), or null.</summary>
    [JsonPropertyName("skipped")]
    public string? Skipped { get; init; }

    /// <summary><see cref="ScenarioRun.RestoreToVerifiedSeconds"/> over the runs.</summary>
    [JsonPropertyName("restore_to_verified_s")]
    public MetricSummary RestoreToVerifiedSeconds { get; init; } = MetricSummary.Empty;

    /// <summary><see cref="ScenarioRun.TouchP50Us"/> over the runs.</summary>
    [JsonPropertyName("touch_p50_us")]
    public MetricSummary TouchP50Us { get; init; } = MetricSummary.Empty;

    /// <summary><see cref="ScenarioRun.TouchP99Us"/> over the runs.</summary>
    [JsonPropertyName("touch_p99_us")]
    public MetricSummary TouchP99Us { get; init; } = MetricSummary.Empty;

    /// <summary><see cref="ScenarioRun.TouchMaxUs"/> over the runs.</summary>
    [JsonPropertyName("touch_max_us")]
    public MetricSummary TouchMaxUs { get; init; } = MetricSummary.Empty;

    /// <summary><see cref="ScenarioRun.TouchMaxExclCpuWaitUs"/> over the runs.</summary>
    [JsonPropertyName("touch_max_excl_cpu_wait_us")]
    public MetricSummary TouchMaxExclCpuWaitUs { get; init; } = MetricSummary.Empty;

    /// <summary><see cref="ScenarioRun.FloorTouchMaxUs"/> over the runs.</summary>
    [JsonPropertyName("floor_touch_max_us")]
    public MetricSummary FloorTouchMaxUs { get; init; } = MetricSummary.Empty;

    /// <summary><see cref="ScenarioRun.ThroughputMiBps"/> over the runs.</summary>
    [JsonPropertyName("throughput_mib_s")]
    public MetricSummary ThroughputMiBps { get; init; } = MetricSummary.Empty;

    /// <summary><see cref="ScenarioRun.DaemonPeakRssMiB"/> over the runs.</summary>
    [JsonPropertyName("daemon_rss_mib")]
    public MetricSummary DaemonPeakRssMiB { get; init; } = MetricSummary.Empty;

    /// <summary><see cref="ScenarioRun.DaemonMaxRssMiB"/> over the runs.</summary>
    [JsonPropertyName("daemon_maxrss_mib")]
    public MetricSummary DaemonMaxRssMiB { get; init; } = MetricSummary.Empty;

    /// <summary><see cref="ScenarioRun.DaemonCpuSeconds"/> over the runs.</summary>
    [JsonPropertyName("daemon_cpu_s")]
    public MetricSummary DaemonCpuSeconds { get; init; } = MetricSummary.Empty;

    /// <summary><see cref="ScenarioRun.ListeningMs"/> over the runs.</summary>
    [JsonPropertyName("listening_ms")]
    public MetricSummary ListeningMs { get; init; } = MetricSummary.Empty;

    /// <summary>Median throughput / median raw 4 MiB UFFDIO_COPY bandwidth (the same units).</summary>
    [JsonPropertyName("bandwidth_ratio")]
    public double BandwidthRatio { get; init; } = double.NaN;

    /// <summary>Median first-touch p50 / median raw round-trip p50.</summary>
    [JsonPropertyName("p50_to_round_trip")]
    public double P50ToRoundTrip { get; init; } = double.NaN;

    /// <summary>Median first-touch max ÷ median scheduler floor of the same runs (1 = the daemon adds nothing visible).</summary>
    [JsonPropertyName("max_to_floor")]
    public double MaxToFloor { get; init; } = double.NaN;

    /// <summary>The targets of docs/benchmarks.md checked against this scenario's figures.</summary>
    [JsonPropertyName("targets")]
    public IReadOnlyList<TargetCheck> Targets { get; init; } = [];

    /// <summary>Every run's figures.</summary>
    [JsonPropertyName("run_details")]
    public IReadOnlyList<ScenarioRun> RunDetails { get; init; } = [];

    /// <summary>A scenario that did not run.</summary>
    public static ScenarioSummary Skip(BenchScenario scenario, string reason) =>
        new() { Scenario = scenario.Name, Description = scenario.Description, Skipped = reason };

    /// <summary>Summarises <paramref name="runs"/> (only successful runs enter the medians) against <paramref name="probes"/>.</summary>
    public static ScenarioSummary From(BenchScenario scenario, IReadOnlyList<ScenarioRun> runs, ProbeReport probes)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(probes);
        var ok = runs.Where(r => r.Ok).ToList();
        MetricSummary Of(Func<ScenarioRun, double> pick) => BenchStatistics.Summarize(ok.Select(pick));
        var summary = new ScenarioSummary
        {
            Scenario = scenario.Name,
            Description = scenario.Description,
            Runs = runs.Count,
            OkRuns = ok.Count,
            RestoreToVerifiedSeconds = Of(r => r.RestoreToVerifiedSeconds),
            TouchP50Us = Of(r => r.TouchP50Us),
            TouchP99Us = Of(r => r.TouchP99Us),
            TouchMaxUs = Of(r => r.TouchMaxUs),
            TouchMaxExclCpuWaitUs = Of(r => r.TouchMaxExclCpuWaitUs),
            FloorTouchMaxUs = Of(r => r.FloorTouchMaxUs),
            ThroughputMiBps = Of(r => r.ThroughputMiBps),
            DaemonPeakRssMiB = Of(r => r.DaemonPeakRssMiB),
            DaemonMaxRssMiB = Of(r => r.DaemonMaxRssMiB),
            DaemonCpuSeconds = Of(r => r.DaemonCpuSeconds),
            ListeningMs = Of(r => r.ListeningMs),
            RunDetails = runs,
        };
        double rawMiBps = probes.LargestChunkBytesPerSecond / (1 << 20);
        summary = summary with
        {
            BandwidthRatio = BenchStatistics.Ratio(summary.ThroughputMiBps.Median, rawMiBps),
            P50ToRoundTrip = BenchStatistics.Ratio(summary.TouchP50Us.Median, probes.RoundTripP50Us.Median),
            MaxToFloor = BenchStatistics.Ratio(summary.TouchMaxUs.Median, summary.FloorTouchMaxUs.Median),
        };
        return summary with { Targets = ok.Count == 0 ? [] : BenchTargets.Evaluate(scenario, summary, probes) };
    }
}
