using System.Text.Json;
using LazyActors.Tools.Bench;
using LazyActors.Tools.Simulation;
using Xunit;

namespace LazyActors.Tools.Tests.Bench;

public sealed class BenchTableTests
{
    [Theory]
    [InlineData(1234.5, "1235")]
    [InlineData(12.345, "12.3")]
    [InlineData(1.2345, "1.23")]
    [InlineData(0.12345, "0.123")]
    [InlineData(double.NaN, "-")]
    public void Number_keeps_about_three_significant_figures(double value, string expected) =>
        Assert.Equal(expected, BenchTable.Number(value));

    [Fact]
    public void Cell_shows_median_and_range_only_when_runs_differ()
    {
        Assert.Equal("-", BenchTable.Cell(MetricSummary.Empty));
        Assert.Equal("2.00", BenchTable.Cell(new MetricSummary(2, 2, 2, 1)));
        Assert.Equal("2.00", BenchTable.Cell(new MetricSummary(2, 2, 2, 3)));
        Assert.Equal("2.00 (1.00-3.00)", BenchTable.Cell(new MetricSummary(2, 1, 3, 3)));
    }

    [Fact]
    public void Render_has_a_column_per_scenario_target_rows_and_skip_reasons()
    {
        var tree = BenchScenarios.All.Single(s => s.Name == BenchScenarios.TargetScenarioName);
        // Every scenario runs now; a skip reason as the runner gives one (the daemon's --help lacks a flag).
        var remote = BenchScenarios.All.Single(s => s.Name == BenchScenarios.RemoteAkkaLoopbackName);
        const string SkipReason = "the daemon's --help does not offer --transport (the Akka transport)";
        var probes = new ProbeReport
        {
            CopyBandwidth = [new CopyBandwidthResult(4 << 20, new MetricSummary(4, 3.5, 4.5, 3))],
            RoundTripP50Us = new MetricSummary(20, 19, 21, 3),
            RoundTripP99Us = new MetricSummary(60, 50, 70, 3),
            RoundTripMaxUs = new MetricSummary(500, 400, 600, 3),
        };
        var run = new ScenarioRun { Ok = true, RestoreToVerifiedSeconds = 0.7, TouchP50Us = 30, TouchP99Us = 300, TouchMaxUs = 900, ThroughputMiBps = 1500, DaemonPeakRssMiB = 90, DaemonCpuSeconds = 1.1, ListeningMs = 120, Notes = ["a note"] };
        var report = new BenchReport
        {
            Date = new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero),
            Machine = new MachineInfo { Host = "box", Cpu = "cpu", Cores = 2 },
            Daemon = "criu lazy-pages",
            Runs = 1,
            Probes = probes,
            Scenarios = [ScenarioSummary.From(tree, [run], probes), ScenarioSummary.Skip(remote, SkipReason)],
        };

        var text = BenchTable.Render(report);
        var lines = text.Split('\n');
        var header = Assert.Single(lines, l => l.StartsWith("scenario", StringComparison.Ordinal));
        Assert.Contains(tree.Name, header);
        Assert.Contains(remote.Name, header);
        Assert.Contains("UFFDIO_COPY 4 MiB chunks, GB/s", text);
        Assert.Contains("4.00 (3.50-4.50)", text);
        Assert.Contains(lines, l => l.StartsWith("target: first-touch p99", StringComparison.Ordinal) && l.Contains("FAIL <= 250 us"));
        Assert.Contains(lines, l => l.StartsWith("target: first-touch p50", StringComparison.Ordinal) && l.Contains("PASS <= 50.0 us"));
        Assert.Contains(lines, l => l.StartsWith("runs ok", StringComparison.Ordinal) && l.Contains("1/1") && l.Contains("skipped"));
        Assert.Contains($"{remote.Name}: skipped: {SkipReason}", text);
        Assert.Contains($"{tree.Name} run 1: note: a note", text);
        Assert.Contains("daemon: criu lazy-pages", text);
        Assert.EndsWith("OK" + Environment.NewLine, text);
    }

    [Fact]
    public void Report_json_round_trips_and_writes_NaN_as_a_literal()
    {
        var report = new BenchReport { Runs = 2, Probes = new ProbeReport { Error = "refused" }, Scenarios = [ScenarioSummary.From(BenchScenarios.All[0], [ScenarioRun.Failed("no daemon")], new ProbeReport())] };
        var json = JsonSerializer.Serialize(report, BenchJsonContext.Default.BenchReport);
        Assert.Contains("\"NaN\"", json);
        var back = JsonSerializer.Deserialize(json, BenchJsonContext.Default.BenchReport)!;
        Assert.Equal("refused", back.Probes.Error);
        Assert.Equal("no daemon", back.Scenarios[0].RunDetails[0].Error);
        Assert.False(back.Ok);
    }

    [Fact]
    public void FromSimReport_takes_worst_task_percentiles_and_throughput_over_slowest_task()
    {
        var sim = new SimReport
        {
            Ok = true,
            TouchToVerifiedMs = 1500,
            Tasks =
            [
                new TouchResult { Pid = 1, Pages = 256, TouchMs = 500, P50Us = 10, P99Us = 100, MaxUs = 1000, BytesVerified = 1 << 20 },
                new TouchResult { Pid = 2, Pages = 256, TouchMs = 1000, P50Us = 20, P99Us = 50, MaxUs = 3000, BytesVerified = 1 << 20 },
            ],
        };
        var exit = new DaemonExit(0, null, false, 80, 0.5) { PeakAnonRssMiB = 60 };
        var run = ScenarioRun.FromSimReport(sim, 123, exit, []);
        Assert.True(run.Ok);
        Assert.Equal(1.5, run.RestoreToVerifiedSeconds);
        Assert.Equal(20, run.TouchP50Us);
        Assert.Equal(100, run.TouchP99Us);
        Assert.Equal(3000, run.TouchMaxUs);
        Assert.Equal(2.0, run.ThroughputMiBps, 9); // 2 MiB over the slowest task's 1 s
        Assert.Equal(60, run.DaemonPeakRssMiB);
        Assert.Equal(80, run.DaemonMaxRssMiB);
        Assert.Equal(123, run.ListeningMs);
        Assert.Equal(2 << 20, run.BytesVerified);
    }

    [Fact]
    public void FromSimReport_fails_when_the_daemon_did_not_exit_cleanly_or_a_task_failed()
    {
        var sim = new SimReport { Ok = true, Tasks = [new TouchResult { Pid = 1, Pages = 1, TouchMs = 1 }] };
        var killed = ScenarioRun.FromSimReport(sim, 1, new DaemonExit(null, 9, true, 10, 1), []);
        Assert.False(killed.Ok);
        Assert.Contains("did not exit 0", killed.Error);

        var bad = new SimReport { Ok = false, Tasks = [new TouchResult { Pid = 7, Mismatches = 3, FirstMismatch = "0x1000" }] };
        var failed = ScenarioRun.FromSimReport(bad, 1, new DaemonExit(0, null, false, 10, 1), []);
        Assert.False(failed.Ok);
        Assert.Contains("pid 7: 3 mismatching pages", failed.Error);
        Assert.True(double.IsNaN(failed.RestoreToVerifiedSeconds));
    }

    [Theory]
    [InlineData(0x0000, 0, null)]
    [InlineData(0x0100, 1, null)]
    [InlineData(0x0009, null, 9)]
    public void DaemonExit_decodes_wait_status(int status, int? code, int? signal) =>
        Assert.Equal((code, signal), DaemonExit.DecodeStatus(status));
}
