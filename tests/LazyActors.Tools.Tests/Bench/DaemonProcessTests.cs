using LazyActors.Tools.Bench;
using Xunit;

namespace LazyActors.Tools.Tests.Bench;

/// <summary>
/// DaemonProcess against throwaway shell-script doubles of a criu-compatible daemon (they only speak the
/// --status-fd contract; no lazy-pages protocol).
/// </summary>
public sealed class DaemonProcessTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"bench-daemon-test-{Guid.NewGuid():N}");

    public DaemonProcessTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Script(string body)
    {
        var path = Path.Combine(_dir, $"daemon-{Guid.NewGuid():N}.sh");
        File.WriteAllText(path, "#!/bin/sh\nfd=''\nwork=''\nwhile [ $# -gt 0 ]; do case \"$1\" in --status-fd) fd=\"$2\"; shift;; -W) work=\"$2\"; shift;; esac; shift; done\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    [Fact]
    public void Ready_byte_then_clean_exit_reports_listening_time_rss_and_cpu()
    {
        var script = Script("echo started \"$@\"\ntouch \"$work/lazy-pages.socket\"\neval \"printf '\\\\000' >&$fd\"\neval \"exec $fd>&-\"\nexit 0");
        using var daemon = DaemonProcess.Start([script], "/img", _dir, ["--extra"], Path.Combine(_dir, "log"));
        var ms = daemon.WaitReady(TimeSpan.FromSeconds(20), out var problem);
        Assert.Null(problem);
        Assert.NotNull(ms);
        Assert.True(ms > 0);
        var exit = daemon.WaitForExit(TimeSpan.FromSeconds(20));
        Assert.True(exit.Clean, exit.ToString());
        Assert.True(exit.PeakRssMiB > 0);
        Assert.False(double.IsNaN(exit.CpuSeconds));
        Assert.Equal(["-D", "/img", "-W", _dir, "--status-fd"], daemon.Argv.Skip(1).Take(5));
        Assert.Equal("--extra", daemon.Argv[^1]);
        Assert.Contains("started", daemon.LogTail());
    }

    [Fact]
    public void Exit_without_ready_byte_is_reported_with_the_exit_code()
    {
        var script = Script("echo 'no such verb' >&2\nexit 3");
        using var daemon = DaemonProcess.Start([script], "/img", _dir, [], Path.Combine(_dir, "log"));
        var ms = daemon.WaitReady(TimeSpan.FromSeconds(20), out var problem);
        Assert.Null(ms);
        Assert.Contains("without signalling readiness", problem);
        var exit = daemon.WaitForExit(TimeSpan.FromSeconds(20));
        Assert.Equal(3, exit.ExitCode);
        Assert.False(exit.Clean);
        Assert.Contains("no such verb", daemon.LogTail());
    }

    [Fact]
    public void A_daemon_that_never_exits_is_killed_and_reaped_after_the_exit_timeout()
    {
        var script = Script("eval \"printf '\\\\000' >&$fd\"\nexec sleep 600");
        using var daemon = DaemonProcess.Start([script], "/img", _dir, [], Path.Combine(_dir, "log"));
        Assert.NotNull(daemon.WaitReady(TimeSpan.FromSeconds(20), out _));
        Assert.True(daemon.IsRunning);
        var exit = daemon.WaitForExit(TimeSpan.FromMilliseconds(200));
        Assert.True(exit.KilledByBench);
        Assert.Equal(9, exit.Signal);
        Assert.False(daemon.IsRunning);
    }

    [Fact]
    public void Silent_daemon_times_out_waiting_for_readiness_and_dispose_kills_it()
    {
        var script = Script("exec sleep 600");
        var daemon = DaemonProcess.Start([script], "/img", _dir, [], Path.Combine(_dir, "log"));
        Assert.Null(daemon.WaitReady(TimeSpan.FromMilliseconds(200), out var problem));
        Assert.Contains("within", problem);
        daemon.Dispose();
        Assert.NotNull(daemon.Exit);
        Assert.Equal(9, daemon.Exit!.Signal);
    }

    [Fact]
    public void Missing_executable_is_a_clear_error()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => DaemonProcess.Start([Path.Combine(_dir, "nope")], "/img", _dir, [], Path.Combine(_dir, "log")));
        Assert.Contains("posix_spawnp", ex.Message);
    }

    [Fact]
    public void Supports_finds_whole_option_words_in_help_output()
    {
        var script = Script("");
        File.AppendAllText(script, "echo '  --no-background-x   nope'\necho '  -v, --no-background  serve faults only'\n");
        var withFlag = new DaemonUnderTest([script], isOwnEngine: false);
        Assert.True(withFlag.Supports("--no-background"));
        Assert.False(withFlag.Supports("--background"));

        var plain = Script("echo '  --no-background-later  nope'");
        Assert.False(new DaemonUnderTest([plain], isOwnEngine: false).Supports("--no-background"));
    }
}
