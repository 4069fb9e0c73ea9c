using System.Globalization;
using System.Text;

namespace LazyActors.Tools.Bench;

/// <summary>
/// Renders a <see cref="BenchReport"/> as plain text: the probe table, then one table with a column per scenario
/// and a row per figure, each cell <c>median (min-max)</c> over the successful runs, followed by the ratios to the
/// probes and the verdict of each target.
/// </summary>
public static class BenchTable
{
    private const int LabelWidth = 34;
    private const int MinColumnWidth = 18;

    /// <summary>The whole report as text.</summary>
    public static string Render(BenchReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"bench {report.Date:yyyy-MM-dd HH:mm} UTC on {report.Machine}");
        text.AppendLine(CultureInfo.InvariantCulture, $"daemon: {report.Daemon}; runs per scenario: {report.Runs}; cells: median (min-max)");
        text.AppendLine();
        RenderProbes(report.Probes, text);
        if (report.Scenarios.Count > 0)
        {
            text.AppendLine();
            RenderScenarios(report.Scenarios, text);
        }

        if (report.CriuScenarios.Count > 0)
        {
            text.AppendLine();
            Criu.CriuBenchTable.Render(report.CriuScenarios, report.Criu ?? "", text);
        }

        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"elapsed {report.ElapsedSeconds:0.0} s: {(report.Ok ? "OK" : "FAILED")}");
        return text.ToString();
    }

    /// <summary>The probe rows.</summary>
    public static void RenderProbes(ProbeReport probes, StringBuilder text)
    {
        ArgumentNullException.ThrowIfNull(probes);
        ArgumentNullException.ThrowIfNull(text);
        text.AppendLine("probes (this process)");
        if (probes.Error is not null)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  not measured: {probes.Error}");
            return;
        }

        foreach (var copy in probes.CopyBandwidth)
        {
            Row(text, $"  UFFDIO_COPY {ProbeSuite.FormatSize(copy.ChunkBytes)} chunks, GB/s", [Cell(copy.GBps)]);
        }

        Row(text, "  fault round trip p50, us", [Cell(probes.RoundTripP50Us)]);
        Row(text, "  fault round trip p99, us", [Cell(probes.RoundTripP99Us)]);
        Row(text, "  fault round trip max, us", [Cell(probes.RoundTripMaxUs)]);
        if (probes.SameCpuP50Us.HasValue)
        {
            Row(text, "  round trip p50 same CPU, us", [Cell(probes.SameCpuP50Us)]);
        }

        if (probes.CrossCpuP50Us.HasValue)
        {
            Row(text, "  round trip p50 two CPUs, us", [Cell(probes.CrossCpuP50Us)]);
        }
    }

    /// <summary>The scenario table.</summary>
    public static void RenderScenarios(IReadOnlyList<ScenarioSummary> scenarios, StringBuilder text)
    {
        ArgumentNullException.ThrowIfNull(scenarios);
        ArgumentNullException.ThrowIfNull(text);
        var targetNames = TargetNames(scenarios);
        var columns = scenarios.Select(s => (IReadOnlyList<string>)Column(s, targetNames)).ToList();
        int width = Math.Max(MinColumnWidth, columns.SelectMany(c => c).Concat(scenarios.Select(s => s.Scenario)).Max(c => c.Length) + 2);
        Row(text, "scenario", scenarios.Select(s => s.Scenario).ToList(), width);
        var labels = RowLabels(targetNames);
        for (int row = 0; row < labels.Count; row++)
        {
            Row(text, labels[row], columns.Select(c => row < c.Count ? c[row] : "").ToList(), width);
        }

        foreach (var s in scenarios)
        {
            if (s.Skipped is not null)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"{s.Scenario}: skipped: {s.Skipped}");
            }

            foreach (var (run, index) in s.RunDetails.Select((r, i) => (r, i)))
            {
                if (run.Error is not null)
                {
                    text.AppendLine(CultureInfo.InvariantCulture, $"{s.Scenario} run {index + 1}: FAILED: {run.Error}");
                }

                foreach (var note in run.Notes)
                {
                    text.AppendLine(CultureInfo.InvariantCulture, $"{s.Scenario} run {index + 1}: note: {note}");
                }
            }
        }
    }

    /// <summary><c>median (min-max)</c>, just the median when all runs agree or there was one, <c>-</c> when none.</summary>
    public static string Cell(MetricSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        if (!summary.HasValue)
        {
            return "-";
        }

        var median = Number(summary.Median);
        if (summary.Count == 1)
        {
            return median;
        }

        string min = Number(summary.Min);
        string max = Number(summary.Max);
        return min == max ? median : $"{median} ({min}-{max})";
    }

    /// <summary>Three significant figures at most, no exponent: 1234 → "1234", 12.34 → "12.3", 1.234 → "1.23".</summary>
    public static string Number(double value)
    {
        if (double.IsNaN(value))
        {
            return "-";
        }

        double magnitude = Math.Abs(value);
        string format = magnitude >= 100 ? "0" : magnitude >= 10 ? "0.0" : magnitude >= 1 ? "0.00" : "0.000";
        return value.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>The text of a target cell: verdict and the limit, e.g. <c>PASS &lt;= 1.82 s</c>.</summary>
    public static string TargetCell(TargetCheck check)
    {
        ArgumentNullException.ThrowIfNull(check);
        return $"{check.Verdict} <= {Number(check.Limit)} {check.Unit}";
    }

    private static List<string> RowLabels(IReadOnlyList<string> targetNames)
    {
        var labels = new List<string>
        {
            "runs ok",
            "restore-to-verified, s",
            "first-touch p50, us (worst task)",
            "first-touch p99, us (worst task)",
            "first-touch max, us",
            "  less toucher's own CPU wait, us",
            "  floor (no daemon), us",
            "throughput, MiB/s",
            "daemon peak anon RSS, MiB",
            "daemon ru_maxrss (+mapped), MiB",
            "daemon CPU, s",
            "socket listening, ms",
            "throughput / raw 4 MiB copy",
            "p50 / raw round-trip p50",
            "first-touch max / floor",
        };
        labels.AddRange(targetNames.Select(n => $"target: {n}"));
        return labels;
    }

    private static List<string> TargetNames(IReadOnlyList<ScenarioSummary> scenarios) =>
        scenarios.SelectMany(s => s.Targets).Select(t => t.Name).Distinct().ToList();

    private static List<string> Column(ScenarioSummary s, IReadOnlyList<string> targetNames)
    {
        if (s.Skipped is not null)
        {
            return ["skipped"];
        }

        var cells = new List<string>
        {
            $"{s.OkRuns}/{s.Runs}",
            Cell(s.RestoreToVerifiedSeconds),
            Cell(s.TouchP50Us),
            Cell(s.TouchP99Us),
            Cell(s.TouchMaxUs),
            Cell(s.TouchMaxExclCpuWaitUs),
            Cell(s.FloorTouchMaxUs),
            Cell(s.ThroughputMiBps),
            Cell(s.DaemonPeakRssMiB),
            Cell(s.DaemonMaxRssMiB),
            Cell(s.DaemonCpuSeconds),
            Cell(s.ListeningMs),
            Number(s.BandwidthRatio),
            Number(s.P50ToRoundTrip),
            Number(s.MaxToFloor),
        };
        foreach (var name in targetNames)
        {
            var check = s.Targets.FirstOrDefault(t => t.Name == name);
            cells.Add(check is null ? "" : TargetCell(check));
        }

        return cells;
    }

    private static void Row(StringBuilder text, string label, IReadOnlyList<string> cells, int width = MinColumnWidth)
    {
        text.Append(label.PadRight(LabelWidth));
        foreach (var cell in cells)
        {
            text.Append(cell.PadLeft(width));
        }

        text.AppendLine();
    }
}
