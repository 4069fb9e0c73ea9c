using System.Globalization;
using System.Text;

namespace LazyActors.Tools.Bench.Criu;

/// <summary>
/// Renders the CRIU scenarios of a report: per scenario one block with a column per daemon and a row per figure
/// (<c>median (min-max)</c> over the successful runs), then the headline matrix (daemon start → every task verified,
/// and <c>criu restore</c> itself) with a row per scenario and a column per daemon, then every skip, cut, failure and
/// note.
/// </summary>
public static class CriuBenchTable
{
    private const int LabelWidth = 40;
    private const int MinColumnWidth = 28;

    private static readonly (string Label, Func<CriuScenarioSummary, MetricSummary> Pick)[] Rows =
    [
        ("daemon start -> listening, s", s => s.ListeningSeconds),
        ("daemon start -> restore returned, s", s => s.RestoreReturnedSeconds),
        ("criu restore itself, s", s => s.RestoreSeconds),
        ("daemon start -> every task verified, s", s => s.AllVerifiedSeconds),
        ("trigger -> every task verified, s", s => s.TriggerToVerifiedSeconds),
        ("first-touch p50, us (worst task)", s => s.TouchP50Us),
        ("first-touch p99, us (worst task)", s => s.TouchP99Us),
        ("first-touch max, us", s => s.TouchMaxUs),
        ("touch time, ms (slowest task)", s => Scaled(s.TouchSeconds, 1000)),
        ("python: CPU trigger -> answer, ms", s => Scaled(s.TaskCpuSeconds, 1000)),
        ("python: runnable, no CPU, ms", s => Scaled(s.TaskRunDelaySeconds, 1000)),
        ("python: blocked (faults), ms", s => Scaled(s.TaskBlockedSeconds, 1000)),
        ("python: minor faults", s => s.TaskMinorFaults),
        ("daemon CPU, s", s => s.DaemonCpuSeconds),
        ("daemon CPU s per GiB served", s => s.DaemonCpuSecondsPerGiB),
        ("daemon peak anon RSS, MiB", s => s.DaemonPeakAnonRssMiB),
        ("daemon ru_maxrss (+mapped), MiB", s => s.DaemonMaxRssMiB),
    ];

    /// <summary>Appends the CRIU part of a report to <paramref name="text"/>.</summary>
    public static void Render(IReadOnlyList<CriuScenarioSummary> summaries, string criu, StringBuilder text)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        ArgumentNullException.ThrowIfNull(text);
        text.AppendLine(CultureInfo.InvariantCulture, $"real CRIU: {criu}");
        text.AppendLine("criu dump once per scenario, then criu restore --lazy-pages per run and daemon (runs interleaved); times from the daemon's start; python scenarios: 'every task verified' = its first correct answer");
        var scenarios = summaries.Select(s => s.Scenario).Distinct().ToList();
        var daemons = summaries.Select(s => s.Daemon).Distinct().ToList();
        int width = ColumnWidth(summaries, daemons);
        foreach (var scenario in scenarios)
        {
            var columns = daemons.Select(d => summaries.FirstOrDefault(s => s.Scenario == scenario && s.Daemon == d)).ToList();
            var first = columns.First(c => c is not null)!;
            text.AppendLine();
            var measured = columns.FirstOrDefault(c => c is { Skipped: null, Error: null });
            text.AppendLine(measured is null
                ? $"{scenario}: {first.Description}"
                : string.Create(CultureInfo.InvariantCulture, $"{scenario}: {first.Description}; criu dump {BenchTable.Number(measured.DumpSeconds)} s, {BenchTable.Number(measured.LazyBytes / (double)(1L << 20))} MiB lazy"));
            Row(text, "", daemons, width);
            Row(text, "  runs ok", columns.Select(c => c is null ? "" : c.Skipped is not null ? "skipped" : c.Error is not null ? "error" : $"{c.OkRuns}/{c.Runs}").ToList(), width);
            foreach (var (label, pick) in Rows)
            {
                Row(text, $"  {label}", columns.Select(c => c is null || c.Skipped is not null ? "" : BenchTable.Cell(pick(c))).ToList(), width);
            }
        }

        text.AppendLine();
        text.AppendLine("daemon start -> every task verified (python: first correct answer), s");
        Matrix(text, summaries, scenarios, daemons, s => s.AllVerifiedSeconds, width);
        text.AppendLine("criu restore itself (spawned -> returned), s");
        Matrix(text, summaries, scenarios, daemons, s => s.RestoreSeconds, width);
        text.AppendLine("daemon CPU s per GiB served");
        Matrix(text, summaries, scenarios, daemons, s => s.DaemonCpuSecondsPerGiB, width);

        foreach (var s in summaries)
        {
            string where = $"{s.Scenario} @{s.Daemon}";
            if (s.Skipped is not null)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"{where}: skipped: {s.Skipped}");
            }

            if (s.Error is not null)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"{where}: ERROR: {s.Error}");
            }

            if (s.CutShort is not null)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"{where}: {s.Runs} of the runs asked: {s.CutShort}");
            }

            foreach (var (run, index) in s.RunDetails.Select((r, i) => (r, i)))
            {
                foreach (var failure in run.Failures)
                {
                    text.AppendLine(CultureInfo.InvariantCulture, $"{where} run {index + 1}: FAILED: {failure}");
                }

                foreach (var note in run.Notes)
                {
                    text.AppendLine(CultureInfo.InvariantCulture, $"{where} run {index + 1}: note: {note}");
                }
            }
        }
    }

    private static MetricSummary Scaled(MetricSummary summary, double factor) =>
        summary.HasValue ? new MetricSummary(summary.Median * factor, summary.Min * factor, summary.Max * factor, summary.Count) : summary;

    private static void Matrix(StringBuilder text, IReadOnlyList<CriuScenarioSummary> summaries, IReadOnlyList<string> scenarios, IReadOnlyList<string> daemons, Func<CriuScenarioSummary, MetricSummary> pick, int width)
    {
        Row(text, "  scenario", daemons, width);
        foreach (var scenario in scenarios)
        {
            Row(text, $"  {scenario}", daemons.Select(d => MatrixCell(summaries.FirstOrDefault(s => s.Scenario == scenario && s.Daemon == d), pick)).ToList(), width);
        }
    }

    private static string MatrixCell(CriuScenarioSummary? summary, Func<CriuScenarioSummary, MetricSummary> pick) => summary switch
    {
        null => "",
        { Skipped: not null } => "skipped",
        { Error: not null } => "error",
        var s => BenchTable.Cell(pick(s)) + (s.OkRuns < s.Runs ? $" [{s.OkRuns}/{s.Runs} ok]" : s.CutShort is not null ? $" [{s.Runs} run{(s.Runs == 1 ? "" : "s")}]" : ""),
    };

    /// <summary>One width for every column: the widest cell of any block or matrix, and at least <see cref="MinColumnWidth"/>.</summary>
    private static int ColumnWidth(IReadOnlyList<CriuScenarioSummary> summaries, IReadOnlyList<string> daemons)
    {
        var picks = Rows.Select(r => r.Pick).ToList();
        int widest = daemons.Max(d => d.Length);
        foreach (var summary in summaries)
        {
            widest = Math.Max(widest, picks.Max(pick => Math.Max(BenchTable.Cell(pick(summary)).Length, MatrixCell(summary, pick).Length)));
        }

        return Math.Max(MinColumnWidth, widest + 2);
    }

    private static void Row(StringBuilder text, string label, IReadOnlyList<string> cells, int width)
    {
        text.Append(label.PadRight(LabelWidth));
        foreach (var cell in cells)
        {
            text.Append(cell.PadLeft(width));
        }

        text.AppendLine();
    }
}
