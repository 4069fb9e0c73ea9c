using System.Text;
using LazyActors.Tools.Bench;
using LazyActors.Tools.Bench.Criu;
using Xunit;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>The CRIU part of the bench table: aligned columns whatever the cells, and every skip and cut said.</summary>
public sealed class CriuBenchTableTests
{
    private static CriuScenarioSummary Measured(string scenario, string daemon, double seconds, int runs, string? cut = null) => new()
    {
        Scenario = scenario,
        Description = $"{scenario} workload",
        Daemon = daemon,
        Runs = runs,
        OkRuns = runs,
        CutShort = cut,
        DumpSeconds = 1.5,
        LazyBytes = 1L << 30,
        AllVerifiedSeconds = BenchStatistics.Summarize([seconds, seconds * 1.01, seconds * 1.2]),
        RestoreSeconds = BenchStatistics.Summarize([0.7951, 0.6853, 0.8172]),
        DaemonCpuSecondsPerGiB = BenchStatistics.Summarize([21.3, 20.6, 22.0]),
    };

    [Fact]
    public void Columns_stay_aligned_when_cells_are_long_and_cut_runs_are_marked()
    {
        var summaries = new[]
        {
            Measured("tree-4x256-rand", "lazyactors", 2.39, 3),
            Measured("tree-4x256-rand", "criu", 28.9, 2, cut: "run 2 took 30.3 s, over the 30 s budget of a run: no more runs of this daemon here"),
            CriuScenarioSummary.Skip(new CriuBenchScenario("python-192m", "python", Python: (192, 1_000_000)), "lazyactors", "no usable python3"),
            CriuScenarioSummary.Skip(new CriuBenchScenario("python-192m", "python", Python: (192, 1_000_000)), "criu", "no usable python3"),
        };
        var text = new StringBuilder();

        CriuBenchTable.Render(summaries, "/opt/criu (Version: 4.2)", text);

        var lines = text.ToString().Split('\n');
        var matrix = lines.Where(l => l.StartsWith("  tree-4x256-rand", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, matrix.Count);
        Assert.All(matrix, l => Assert.Equal(matrix[0].Length, l.Length));
        Assert.Contains("29.2 (28.9-34.7) [2 runs]", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("tree-4x256-rand @criu: 2 of the runs asked: run 2 took 30.3 s", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("python-192m @lazyactors: skipped: no usable python3", text.ToString(), StringComparison.Ordinal);
        var header = lines.First(l => l.StartsWith("  scenario", StringComparison.Ordinal));
        Assert.Equal(matrix[0].Length, header.Length);
    }
}
