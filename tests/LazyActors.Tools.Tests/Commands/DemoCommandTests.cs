using System.Globalization;
using System.Text.RegularExpressions;
using LazyActors.Testing;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Commands;

/// <summary>The <c>demo</c> verb as a newcomer runs it: its own process, live progress and a summary.</summary>
public sealed partial class DemoCommandTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Demo_verb_restores_a_small_tree_and_prints_the_summary()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var (exitCode, stdout, stderr) = await VerbProcess.RunAsync(ToolsInvocation.Prefix(), TimeSpan.FromSeconds(90), "demo", "--tasks", "2", "--mib", "4", "--timeout", "60");

        output.WriteLine(stdout);
        output.WriteLine(stderr);
        Assert.Equal(0, exitCode);
        Assert.Contains("demo: OK, every byte verified", stdout);
        Assert.Contains("first touch: p50", stdout);
        Assert.Contains("mismatches 0", stdout);
    }

    /// <summary>
    /// The default demo shows post-copy, not a copy: faults are served while the push runs (a progress row before the
    /// last one has both moving), and the summary counts faults as well as pushed pages.
    /// </summary>
    [SkippableFact]
    public async Task Default_demo_serves_faults_beside_the_push()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var (exitCode, stdout, stderr) = await VerbProcess.RunAsync(ToolsInvocation.Prefix(), TimeSpan.FromSeconds(90), "demo", "--timeout", "60");

        output.WriteLine(stdout);
        output.WriteLine(stderr);
        Assert.Equal(0, exitCode);
        Assert.Contains("demo: OK, every byte verified", stdout);
        var rows = ProgressRow().Matches(stdout).Select(m => (Faults: long.Parse(m.Groups["faults"].Value, CultureInfo.InvariantCulture), Pushed: long.Parse(m.Groups["pushed"].Value, CultureInfo.InvariantCulture), Final: m.Groups["final"].Success)).ToList();
        Assert.NotEmpty(rows);
        Assert.True(rows[^1].Final, "the last progress row names how the tasks ended");
        Assert.Contains(rows.SkipLast(1), r => r.Faults > 0 && r.Pushed > 0);
        var summary = Summary().Match(stdout);
        Assert.True(summary.Success, "no summary line");
        Assert.True(long.Parse(summary.Groups["faults"].Value, CultureInfo.InvariantCulture) > 0, summary.Value);
        Assert.True(long.Parse(summary.Groups["pushed"].Value, CultureInfo.InvariantCulture) > 0, summary.Value);
    }

    /// <summary>A progress row: "+0.25 s" then faults/pushed per task, the last pair for all tasks.</summary>
    [GeneratedRegex(@"^ +\+\d+\.\d\d s(?: +\d+ +\d+)* +(?<faults>\d+) +(?<pushed>\d+)(?<final>  tasks: .*)?$", RegexOptions.Multiline)]
    private static partial Regex ProgressRow();

    [GeneratedRegex(@"^faults served (?<faults>\d+), pages pushed (?<pushed>\d+),", RegexOptions.Multiline)]
    private static partial Regex Summary();
}
