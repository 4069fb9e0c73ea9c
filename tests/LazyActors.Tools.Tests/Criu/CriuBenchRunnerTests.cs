using System.Diagnostics;
using System.Text;
using LazyActors.Testing;
using LazyActors.Tools.Bench;
using LazyActors.Tools.Bench.Criu;
using LazyActors.Tools.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// <c>bench --restorer criu</c>'s runner and table on tiny scenarios: one checkpoint per scenario restored by every
/// daemon run by run, the run budget cutting a daemon short, and every scenario skipped with the reason where CRIU
/// is absent.
/// </summary>
public sealed class CriuBenchRunnerTests(ITestOutputHelper output) : IDisposable
{
    private readonly ScratchDirectory _dir = new("cbr");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Without_criu_every_scenario_and_daemon_is_skipped_with_the_reason()
    {
        var options = new BenchOptions
        {
            Restorer = BenchRestorer.Criu,
            CriuScenarios = CriuBenchScenarios.Select(["smoke"]),
            CriuDaemons = ["self", "criu"],
            CriuPath = _dir.Sub("no-criu-here"),
        };
        var runner = new CriuBenchRunner(options);

        var summaries = await runner.RunAsync(Stopwatch.StartNew(), CancellationToken.None);

        Assert.Equal(4, options.CriuScenarios.Count); // the small local ones and the small remote one
        Assert.Equal(4 * 2, summaries.Count);
        Assert.All(summaries, s => Assert.Contains("does not exist", s.Skipped, StringComparison.Ordinal));
        Assert.All(summaries, s => Assert.True(s.Ok));
        var text = new StringBuilder();
        CriuBenchTable.Render(summaries, runner.CriuDescription, text);
        Assert.Contains("smoke-single-64m-rand @criu: skipped: CRIU not available", text.ToString(), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task One_checkpoint_per_scenario_is_restored_by_every_daemon_run_by_run()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var scenario = new CriuBenchScenario("tiny-2x4-rand", "2 tasks x 4 MiB", new TreeWorkload(2, 4, WorkloadTouch.Rand));
        var options = new BenchOptions
        {
            Restorer = BenchRestorer.Criu,
            CriuScenarios = [scenario],
            CriuDaemons = ["self", "criu", "self"],
            CriuPath = criu.Path,
            Runs = 2,
            TempRoot = _dir.Path,
            Progress = output.WriteLine,
        };
        var runner = new CriuBenchRunner(options);

        var summaries = await runner.RunAsync(Stopwatch.StartNew(), CancellationToken.None);

        Assert.Equal(["lazyactors", "criu", "lazyactors#3"], summaries.Select(s => s.Daemon));
        Assert.All(summaries, s =>
        {
            Assert.True(s.Ok, string.Join("\n", s.RunDetails.SelectMany(r => r.Failures)));
            Assert.Equal(2, s.OkRuns);
            Assert.Equal(2, s.AllVerifiedSeconds.Count);
            Assert.True(s.DumpSeconds > 0);
            Assert.True(s.LazyBytes >= 8L << 20);
        });
        var text = new StringBuilder();
        CriuBenchTable.Render(summaries, runner.CriuDescription, text);
        output.WriteLine(text.ToString());
        Assert.Contains("tiny-2x4-rand: 2 tasks x 4 MiB; criu dump", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("daemon start -> every task verified", text.ToString(), StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Path));
    }

    [SkippableFact]
    public async Task A_daemon_over_the_run_budget_gets_no_more_runs_of_the_scenario()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var options = new BenchOptions
        {
            Restorer = BenchRestorer.Criu,
            CriuScenarios = [new CriuBenchScenario("tiny-1x4-seq", "1 task x 4 MiB", new TreeWorkload(1, 4, WorkloadTouch.Seq))],
            CriuDaemons = ["criu"],
            CriuPath = criu.Path,
            Runs = 3,
            DaemonRunBudget = TimeSpan.FromMilliseconds(1),
            TempRoot = _dir.Path,
        };

        var summary = Assert.Single(await new CriuBenchRunner(options).RunAsync(Stopwatch.StartNew(), CancellationToken.None));

        Assert.Equal(1, summary.Runs);
        Assert.Contains("over the 0 s budget", summary.CutShort, StringComparison.Ordinal);
    }
}
