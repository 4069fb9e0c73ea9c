using LazyActors.Testing;
using LazyActors.Tools.Criu;
using Xunit;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// The subreaper every step of the CRIU harness runs under, on real processes: it reaps what is reparented to it,
/// reports exits with rusage, kills leftovers by pid at its deadline or on request, and passes a status pipe through.
/// </summary>
public sealed class ReapedProcessTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly ScratchDirectory _dir = new("reap");

    public void Dispose() => _dir.Dispose();

    private ReapedProcessOptions Shell(string script, TimeSpan deadline, bool statusPipe = false) => new()
    {
        Argv = ["/bin/sh", "-c", script, "sh", ReapedProcess.StatusFdToken],
        LogPath = _dir.Sub("log"),
        Deadline = deadline,
        StatusPipe = statusPipe,
    };

    [SkippableFact]
    public async Task The_command_and_its_orphans_are_reaped_with_their_exit_status()
    {
        Skip.If(CriuHelpers.MissingReason() is not null, CriuHelpers.MissingReason());
        using var step = ReapedProcess.Start(Shell("(sleep 0.3; exit 7) & echo child $!; exit 3", Bound));

        var main = await step.MainExit.WaitAsync(Bound);
        var outcome = await step.Completion.WaitAsync(Bound);

        Assert.Equal(3, main.ExitCode);
        Assert.True(main.IsMain);
        Assert.Equal(3, outcome.ExitCode);
        Assert.False(outcome.DeadlinePassed);
        var orphan = Assert.Single(outcome.Exits, e => !e.IsMain);
        Assert.Equal(7, orphan.ExitCode);
        Assert.True(orphan.MonotonicNs >= main.MonotonicNs);
        Assert.Contains($"child {orphan.Pid}", await File.ReadAllTextAsync(_dir.Sub("log")));
    }

    [SkippableFact]
    public async Task Leftovers_are_killed_by_pid_when_the_deadline_passes()
    {
        Skip.If(CriuHelpers.MissingReason() is not null, CriuHelpers.MissingReason());
        using var step = ReapedProcess.Start(Shell("sleep 60 & exit 0", TimeSpan.FromSeconds(1)));

        var outcome = await step.Completion.WaitAsync(Bound);

        Assert.True(outcome.DeadlinePassed);
        Assert.Equal(124, outcome.ExitCode);
        var sleeper = Assert.Single(outcome.Exits, e => !e.IsMain);
        Assert.Equal(9, sleeper.Signal);
        Assert.Contains(sleeper.Pid, outcome.Killed);
    }

    [SkippableFact]
    public async Task Terminate_kills_the_whole_step_by_pid()
    {
        Skip.If(CriuHelpers.MissingReason() is not null, CriuHelpers.MissingReason());
        using var step = ReapedProcess.Start(Shell("sleep 60 & sleep 60", Bound));
        int main = await step.MainPid.WaitAsync(Bound);

        // Terminate only once the shell has started both sleeps, or the step may have fewer processes to kill.
        var started = DateTime.UtcNow;
        while (ChildrenOf(main) < 2)
        {
            Assert.True(DateTime.UtcNow - started < Bound, $"the shell {main} did not start its two sleeps");
            await Task.Delay(10);
        }

        step.Terminate();
        var outcome = await step.Completion.WaitAsync(Bound);

        // The shell and its two sleeps: the sleeps come to the reaper once the shell is killed.
        Assert.False(outcome.DeadlinePassed);
        Assert.Equal(3, outcome.Exits.Count);
        Assert.All(outcome.Exits, e => Assert.Equal(9, e.Signal));
        Assert.Contains(main, outcome.Killed);
        Assert.False(Directory.Exists($"/proc/{main}"));
    }

    [SkippableFact]
    public async Task The_status_pipe_reaches_the_command_and_its_eof_means_the_command_closed_it()
    {
        Skip.If(CriuHelpers.MissingReason() is not null, CriuHelpers.MissingReason());
        using (var ready = ReapedProcess.Start(Shell("eval \"printf '\\\\000' >&$1\"; sleep 0.2", Bound, statusPipe: true)))
        {
            var (arrived, problem) = await ready.WaitForStatusByteAsync(Bound, CancellationToken.None);
            Assert.Null(problem);
            Assert.True(arrived > ready.SpawnedNs);
        }

        using var silent = ReapedProcess.Start(Shell("exit 0", Bound, statusPipe: true));
        var (none, why) = await silent.WaitForStatusByteAsync(Bound, CancellationToken.None);
        Assert.Null(none);
        Assert.Contains("closed", why);
    }

    [SkippableFact]
    public async Task The_command_inherits_stdio_and_the_status_pipe_only()
    {
        Skip.If(CriuHelpers.MissingReason() is not null, CriuHelpers.MissingReason());
        // A descriptor this process leaks (no O_CLOEXEC), as a test runner's parent may: CRIU would have to dump it with
        // the tree, and one opened in another mount namespace makes `criu dump` fail.
        int leaked = Engine.Interop.Libc.Open("/dev/null", 0);
        Assert.True(leaked > 2);
        try
        {
            using var step = ReapedProcess.Start(Shell("echo status=$1; ls /proc/$$/fd | tr '\\n' ' '", Bound, statusPipe: true));
            var outcome = await step.Completion.WaitAsync(Bound);

            Assert.Equal(0, outcome.ExitCode);
            var log = await File.ReadAllTextAsync(_dir.Sub("log"));
            var lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var status = lines[0]["status=".Length..];
            Assert.Equal(["0", "1", "2", status], lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToArray());
            Assert.NotEqual(leaked.ToString(System.Globalization.CultureInfo.InvariantCulture), status);
        }
        finally
        {
            _ = Engine.Interop.Libc.Close(leaked);
        }
    }

    [SkippableFact]
    public async Task A_new_session_makes_the_command_its_leader()
    {
        Skip.If(CriuHelpers.MissingReason() is not null, CriuHelpers.MissingReason());
        using var step = ReapedProcess.Start(Shell("echo \"pid=$$ sid=$(cut -d' ' -f6 /proc/$$/stat)\"", Bound) with { NewSession = true });

        var outcome = await step.Completion.WaitAsync(Bound);

        Assert.Equal(0, outcome.ExitCode);
        var pid = Assert.Single(outcome.Exits).Pid;
        Assert.Contains($"pid={pid} sid={pid}", await File.ReadAllTextAsync(_dir.Sub("log")));
    }

    [SkippableFact]
    public async Task A_new_pid_namespace_makes_the_command_its_pid_1()
    {
        Skip.If(CriuHelpers.MissingReason() is not null, CriuHelpers.MissingReason());
        using var step = ReapedProcess.Start(Shell("echo pid=$$", Bound) with { NewSession = true, NewPidNamespace = true });

        var outcome = await step.Completion.WaitAsync(Bound);

        Assert.Equal(0, outcome.ExitCode);
        Assert.NotEqual(1, Assert.Single(outcome.Exits).Pid);
        Assert.Contains("pid=1", await File.ReadAllTextAsync(_dir.Sub("log")));
    }

    [Fact]
    public void Exit_lines_are_parsed_with_status_rusage_and_time()
    {
        var exit = ReaperExit.Parse("exit pid=42 main=1 code=-1 signal=9 utime_us=1500000 stime_us=500000 maxrss_kib=2048 mono_ns=123");

        Assert.Equal(42, exit.Pid);
        Assert.True(exit.IsMain);
        Assert.Null(exit.ExitCode);
        Assert.Equal(9, exit.Signal);
        Assert.Equal(2.0, exit.CpuSeconds, 6);
        Assert.Equal(2048, exit.MaxRssKiB);
        Assert.Equal(123, exit.MonotonicNs);
        Assert.Throws<FormatException>(() => ReaperExit.Parse("exit pid=1 main=1"));
        Assert.Throws<FormatException>(() => ReaperExit.Parse("start pid=1 mono_ns=2"));
    }

    private static int ChildrenOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
