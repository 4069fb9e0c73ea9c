using LazyActors.Tools.Bench;
using Xunit;

namespace LazyActors.Tools.Tests.Bench;

/// <summary>Comparing several daemons in one bench run: which daemons are measured and how their columns are named.</summary>
public sealed class SideBySideDaemonTests
{
    [Fact]
    public void Without_daemons_only_the_own_engine_is_measured()
    {
        var options = new BenchOptions();

        Assert.Equal([null], options.EffectiveDaemons);
    }

    [Fact]
    public void A_single_daemon_command_replaces_the_own_engine()
    {
        IReadOnlyList<string> criu = ["criu", "lazy-pages"];
        var options = new BenchOptions { DaemonCommand = criu };

        Assert.Equal([criu], options.EffectiveDaemons);
    }

    [Fact]
    public void Several_daemons_are_measured_in_the_given_order()
    {
        IReadOnlyList<string> criu = ["/usr/sbin/criu", "lazy-pages"];
        var options = new BenchOptions { DaemonCommands = [null, criu] };

        Assert.Equal([null, criu], options.EffectiveDaemons);
    }

    [Fact]
    public void Columns_are_labelled_by_program_and_verb()
    {
        Assert.Equal("lazyactors", BenchRunner.DaemonLabel(DaemonUnderTest.OwnEngine()));
        Assert.Equal("criu-lazy-pages", BenchRunner.DaemonLabel(new DaemonUnderTest(["/usr/sbin/criu", "lazy-pages"], isOwnEngine: false)));
    }

    /// <summary>"self" is the host built with the tools: its dll sits next to the tools' and answers as lazy-pages.</summary>
    [Fact]
    public void The_own_engine_is_the_host_built_next_to_the_tools()
    {
        var own = DaemonUnderTest.OwnEngine();

        Assert.Equal(Path.GetDirectoryName(ToolsInvocation.AssemblyPath), Path.GetDirectoryName(own.Template[1]));
        Assert.Equal("LazyActors.Host.dll", Path.GetFileName(own.Template[1]));
        Assert.True(File.Exists(Path.ChangeExtension(own.Template[1], ".runtimeconfig.json")), "the host cannot start without its runtimeconfig");
        Assert.True(own.Supports("--no-background"), "the host's lazy-pages --help does not list --no-background");
        Assert.True(own.Supports("--status-fd"), "the host's lazy-pages --help does not list --status-fd");
    }
}
