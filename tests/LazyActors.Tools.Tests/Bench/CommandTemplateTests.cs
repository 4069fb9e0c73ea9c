using LazyActors.Tools.Bench;
using Xunit;

namespace LazyActors.Tools.Tests.Bench;

public sealed class CommandTemplateTests
{
    [Fact]
    public void Split_handles_whitespace_and_both_quote_styles()
    {
        Assert.Equal(["criu", "lazy-pages"], CommandTemplate.Split("  criu\tlazy-pages "));
        Assert.Equal(["/opt/my daemon", "-v", "it's"], CommandTemplate.Split("'/opt/my daemon' -v \"it's\""));
        Assert.Equal(["a\"b", "c d"], CommandTemplate.Split("\"a\\\"b\" c\\ d"));
        Assert.Equal(["x", ""], CommandTemplate.Split("x ''"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("criu 'open")]
    [InlineData("criu \"open")]
    [InlineData("criu \\")]
    public void Split_rejects_empty_and_unterminated_input(string command) =>
        Assert.Throws<FormatException>(() => CommandTemplate.Split(command));

    [Fact]
    public void LazyPagesArgv_appends_the_criu_compatible_options_then_extras()
    {
        var argv = CommandTemplate.LazyPagesArgv(["criu", "lazy-pages"], "/img", "/work", 3, ["--no-background"]);
        Assert.Equal(["criu", "lazy-pages", "-D", "/img", "-W", "/work", "--status-fd", "3", "--no-background"], argv);
    }

    [Fact]
    public void Join_quotes_what_Split_would_break()
    {
        string[] words = ["dotnet", "/a b/Host.dll", "it's", "lazy-pages"];
        Assert.Equal(words, CommandTemplate.Split(CommandTemplate.Join(words)));
    }

    [Fact]
    public void Scenario_selection_accepts_all_none_lists_and_rejects_unknown_names()
    {
        Assert.Equal(BenchScenarios.All, BenchScenarios.Select(["all"]));
        Assert.Equal(BenchScenarios.All, BenchScenarios.Select([]));
        Assert.Empty(BenchScenarios.Select(["none"]));
        Assert.Equal(["single-1g-seq", "tree-8x128-rand"], BenchScenarios.Select(["tree-8x128-rand,single-1g-seq"]).Select(s => s.Name));
        var ex = Assert.Throws<ArgumentException>(() => BenchScenarios.Select(["nope"]));
        Assert.Contains("tree-4x256-rand", ex.Message);
    }
}

public sealed class RssSamplerTests
{
    [Fact]
    public void ParseRssAnonKiB_reads_the_RssAnon_line()
    {
        Assert.Equal(12345, RssSampler.ParseRssAnonKiB("Name:\tx\nVmHWM:\t  999 kB\nRssAnon:\t   12345 kB\nRssFile:\t 1 kB\n"));
        Assert.Null(RssSampler.ParseRssAnonKiB("Name:\tx\n"));
    }
}
