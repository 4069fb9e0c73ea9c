using LazyActors.Tools.Criu;
using Xunit;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>How <c>--daemon</c> words become a daemon and its command line for one restore.</summary>
public sealed class CriuDaemonSpecTests
{
    private static readonly CriuTool Criu = new("/opt/criu/criu", "Version: 4.2");

    [Fact]
    public void Self_is_this_hosts_lazy_pages_verb_with_the_status_descriptor()
    {
        var self = CriuDaemonSpec.Parse("self", Criu);

        Assert.True(self.IsOwnEngine);
        Assert.Equal("lazyactors", self.Label);
        Assert.Equal("lazyactors-d", CriuDaemonSpec.Parse("self -d", Criu).Label);
        Assert.EndsWith("LazyActors.Host.dll", self.Template[^2], StringComparison.Ordinal);
        Assert.Equal("lazy-pages", self.Template[^1]);
        Assert.Equal(
            ["-D", "/img", "-W", "/work", "-o", "/work/daemon.log", "--status-fd", ReapedProcess.StatusFdToken],
            self.Argv("/img", "/work", "/work/daemon.log", "/work/daemon.pid", null).Skip(self.Template.Count));
    }

    [Fact]
    public void Criu_is_criu_lazy_pages_and_dash_d_detaches_with_a_pid_file()
    {
        var criu = CriuDaemonSpec.Parse("criu -d", Criu);

        Assert.Equal(["/opt/criu/criu", "lazy-pages"], criu.Template);
        Assert.True(criu.Detach);
        Assert.Equal(
            ["-D", "/img", "-W", "/work", "-o", "/work/l.log", "-d", "--pidfile", "/work/p", "--page-server", "--address", "127.0.0.1", "--port", "4242"],
            criu.Argv("/img", "/work", "/work/l.log", "/work/p", new CriuPageServerEndpoint("127.0.0.1", 4242)).Skip(2));
    }

    [Fact]
    public void Any_command_is_split_like_a_shell_and_labelled_by_program_and_verb()
    {
        var command = CriuDaemonSpec.Parse("'/usr/local/bin/my daemon' lazy-pages --fast", Criu);

        Assert.Equal(["/usr/local/bin/my daemon", "lazy-pages", "--fast"], command.Template);
        Assert.Equal("my daemon-lazy-pages", command.Label);
        Assert.False(command.IsOwnEngine);
        Assert.Throws<FormatException>(() => CriuDaemonSpec.Parse("criu", null));
        Assert.Throws<FormatException>(() => CriuDaemonSpec.Parse("  ", Criu));
    }

    [Fact]
    public void Self_runs_the_published_host_when_given_and_self_il_the_build_next_to_the_tools()
    {
        var published = CriuDaemonSpec.Parse("self", Criu, ["/opt/la/LazyActors.Host"]);
        var il = CriuDaemonSpec.Parse("self-il", Criu, ["/opt/la/LazyActors.Host"]);

        Assert.Equal(["/opt/la/LazyActors.Host", "lazy-pages"], published.Template);
        Assert.Equal("lazyactors", published.Label);
        Assert.True(il.IsOwnEngine);
        Assert.Equal("lazyactors-il", il.Label);
        Assert.EndsWith("LazyActors.Host.dll", il.Template[^2], StringComparison.Ordinal);
        Assert.True(CriuDaemonSpec.NamesPublishedSelf("self"));
        Assert.True(CriuDaemonSpec.NamesPublishedSelf("self -d"));
        Assert.False(CriuDaemonSpec.NamesPublishedSelf("self-il"));
        Assert.False(CriuDaemonSpec.NamesPublishedSelf("criu"));
    }
}
