using LazyActors.Testing;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Commands;

/// <summary>The <c>demo</c> verb as a newcomer runs it: its own process, a small tree, live progress and a summary.</summary>
public sealed class DemoCommandTests(ITestOutputHelper output)
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
}
