using LazyActors.Testing;
using LazyActors.Tools.Criu;
using Xunit;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>How <c>bench --source</c> words become the page server of a remote scenario.</summary>
public sealed class CriuSourceSpecTests
{
    private static readonly CriuTool Criu = new("/opt/criu/criu", "Version: 4.2");

    [Fact]
    public void Criu_and_self_keep_their_labels_and_self_runs_the_given_host_prefix()
    {
        Assert.Equal(["/opt/criu/criu", "page-server"], CriuSourceSpec.Parse("criu", null, Criu).Template);
        Assert.Equal("criu-ps", CriuSourceSpec.Parse("criu", null, Criu).Label);
        var self = CriuSourceSpec.Parse("self", ["/opt/host/LazyActors.Host"], Criu);
        Assert.Equal("lazyactors-ps", self.Label);
        Assert.Equal(["/opt/host/LazyActors.Host", "page-server"], self.Template);
        Assert.True(self.StopsOnSignal);
    }

    [Fact]
    public void Self_with_a_directory_runs_that_published_host_labelled_by_the_directory_name()
    {
        using var dir = new ScratchDirectory();
        var host = Directory.CreateDirectory(dir.Sub("host-base")).FullName;
        File.WriteAllText(Path.Combine(host, "LazyActors.Host"), "#!/bin/sh\n");

        Assert.Null(CriuSourceSpec.ParseProblem($"self={host}"));
        var source = CriuSourceSpec.Parse($"self={host}/", ["/elsewhere/LazyActors.Host"], Criu);
        Assert.Equal("lazyactors-ps@host-base", source.Label);
        Assert.Equal([Path.Combine(host, "LazyActors.Host"), "page-server"], source.Template);
        Assert.True(source.StopsOnSignal);
    }

    [Theory]
    [InlineData("selfish")]
    [InlineData("self=")]
    [InlineData("criu2")]
    public void Other_words_and_directories_without_a_host_are_refused_with_the_reason(string word)
    {
        Assert.Contains("expected criu, self or self=DIR", CriuSourceSpec.ParseProblem(word), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => CriuSourceSpec.Parse(word, null, Criu));

        using var dir = new ScratchDirectory();
        Assert.Contains("holds no published host", CriuSourceSpec.ParseProblem($"self={dir.Path}"), StringComparison.Ordinal);
    }
}
