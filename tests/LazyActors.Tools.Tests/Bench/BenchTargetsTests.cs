using LazyActors.Tools.Bench;
using Xunit;

namespace LazyActors.Tools.Tests.Bench;

public sealed class BenchTargetsTests
{
    private static readonly BenchScenario Tree = BenchScenarios.All.Single(s => s.Name == BenchScenarios.TargetScenarioName);
    private static readonly BenchScenario Lone = BenchScenarios.All.Single(s => s.Name == BenchScenarios.LoneFaultsName);

    private static ProbeReport Probes(double gbps4MiB = 4.0, double roundTripP50 = 20) => new()
    {
        CopyBandwidth = [new CopyBandwidthResult(4096, One(1.5)), new CopyBandwidthResult(4 << 20, One(gbps4MiB))],
        RoundTripP50Us = One(roundTripP50),
        RoundTripP99Us = One(roundTripP50 * 2),
        RoundTripMaxUs = One(roundTripP50 * 10),
    };

    private static MetricSummary One(double v) => new(v, v, v, 1);

    private static ScenarioRun Run(double seconds = 1, double p50 = 30, double p99 = 200, double max = 4000, double rss = 100, double listening = 200, double mibps = 1000, double? maxExclCpuWait = null, double floor = double.NaN) => new()
    {
        Ok = true,
        RestoreToVerifiedSeconds = seconds,
        TouchP50Us = p50,
        TouchP99Us = p99,
        TouchMaxUs = max,
        TouchMaxExclCpuWaitUs = maxExclCpuWait ?? max,
        FloorTouchMaxUs = floor,
        DaemonPeakRssMiB = rss,
        DaemonCpuSeconds = 1,
        ListeningMs = listening,
        ThroughputMiBps = mibps,
    };

    [Fact]
    public void Time_limit_is_1_3_times_bytes_over_raw_bandwidth_plus_half_a_second()
    {
        // 1 GiB at 4e9 B/s = 0.268435456 s; x1.3 = 0.3489660928; +0.5
        Assert.Equal(0.8489660928, BenchTargets.TimeLimitSeconds(1L << 30, 4e9), 9);
        Assert.True(double.IsNaN(BenchTargets.TimeLimitSeconds(1L << 30, double.NaN)));
        Assert.True(double.IsNaN(BenchTargets.TimeLimitSeconds(1L << 30, 0)));
    }

    [Fact]
    public void Tree_scenario_passes_all_targets_at_the_limits()
    {
        var limit = BenchTargets.TimeLimitSeconds(Tree.TotalBytes, 4e9);
        var summary = ScenarioSummary.From(Tree, [Run(seconds: limit, p50: 50, p99: 250, max: 5000, rss: 150, listening: 500)], Probes());
        Assert.Equal(
            ["restore-to-verified", "first-touch p50", "first-touch p99", "first-touch max", "first-touch max less own CPU wait", "daemon peak anon RSS", "socket listening"],
            summary.Targets.Select(t => t.Name));
        Assert.All(summary.Targets, t => Assert.True(t.Passed));
    }

    [Fact]
    public void Each_target_fails_just_above_its_limit()
    {
        var limit = BenchTargets.TimeLimitSeconds(Tree.TotalBytes, 4e9);
        var summary = ScenarioSummary.From(Tree, [Run(seconds: limit + 0.001, p50: 50.1, p99: 250.1, max: 5000.1, rss: 150.1, listening: 500.1)], Probes());
        Assert.All(summary.Targets, t => Assert.False(t.Passed));
        Assert.All(summary.Targets, t => Assert.Equal("FAIL", t.Verdict));
    }

    [Fact]
    public void Max_less_own_CPU_wait_is_judged_apart_and_is_not_applicable_without_run_delay_accounting()
    {
        var split = ScenarioSummary.From(Tree, [Run(max: 30_000, maxExclCpuWait: 300)], Probes());
        Assert.False(split.Targets.Single(t => t.Name == "first-touch max").Passed);
        Assert.True(split.Targets.Single(t => t.Name == "first-touch max less own CPU wait").Passed);

        Assert.True(double.IsNaN(split.MaxToFloor));
        var withFloor = ScenarioSummary.From(Tree, [Run(max: 30_000, floor: 20_000), Run(max: 36_000, floor: 24_000), Run(max: 24_000, floor: 16_000)], Probes());
        Assert.Equal(1.5, withFloor.MaxToFloor, 9);
        Assert.Equal(20_000, withFloor.FloorTouchMaxUs.Median);

        var unaccounted = ScenarioSummary.From(Tree, [Run(maxExclCpuWait: double.NaN)], Probes());
        Assert.Null(unaccounted.Targets.Single(t => t.Name == "first-touch max less own CPU wait").Passed);
        Assert.Equal("n/a", unaccounted.Targets.Single(t => t.Name == "first-touch max less own CPU wait").Verdict);
    }

    [Fact]
    public void Lone_fault_target_is_three_times_the_raw_round_trip_p50()
    {
        var pass = ScenarioSummary.From(Lone, [Run(p50: 60)], Probes(roundTripP50: 20));
        var fail = ScenarioSummary.From(Lone, [Run(p50: 61)], Probes(roundTripP50: 20));
        var lone = pass.Targets.Single(t => t.Name.StartsWith("lone-fault", StringComparison.Ordinal));
        Assert.Equal(60, lone.Limit);
        Assert.True(lone.Passed);
        Assert.False(fail.Targets.Single(t => t.Name.StartsWith("lone-fault", StringComparison.Ordinal)).Passed);
        Assert.DoesNotContain(pass.Targets, t => t.Name == "first-touch p99");
        Assert.Equal(3.0, pass.P50ToRoundTrip);
    }

    [Fact]
    public void Targets_are_not_applicable_without_probes_and_absent_without_successful_runs()
    {
        var noProbes = ScenarioSummary.From(Tree, [Run()], new ProbeReport { Error = "refused" });
        var time = noProbes.Targets.Single(t => t.Name == "restore-to-verified");
        Assert.Null(time.Passed);
        Assert.Equal("n/a", time.Verdict);
        Assert.True(noProbes.Targets.Single(t => t.Name == "daemon peak anon RSS").Passed);

        var failed = ScenarioSummary.From(Tree, [ScenarioRun.Failed("boom")], Probes());
        Assert.Empty(failed.Targets);
        Assert.Equal(0, failed.OkRuns);
        Assert.Equal(1, failed.Runs);
    }

    [Fact]
    public void Summary_uses_only_successful_runs_and_computes_ratios_against_probes()
    {
        var runs = new[] { Run(seconds: 1, mibps: 1000), Run(seconds: 3, mibps: 2000), ScenarioRun.Failed("x"), Run(seconds: 2, mibps: 3000) };
        var summary = ScenarioSummary.From(Tree, runs, Probes(gbps4MiB: 4e9 / 1e9 * (1 << 20) * 2000 / 4e9));
        Assert.Equal(new MetricSummary(2, 1, 3, 3), summary.RestoreToVerifiedSeconds);
        Assert.Equal(3, summary.OkRuns);
        Assert.Equal(4, summary.Runs);

        // raw 4 MiB bandwidth chosen as exactly 2000 MiB/s: median throughput 2000 MiB/s gives ratio 1.
        Assert.Equal(1.0, summary.BandwidthRatio, 9);
        Assert.Equal(1.5, summary.P50ToRoundTrip, 9);
    }
}
