using System.Diagnostics;
using System.Globalization;
using LazyActors.Engine.Restorer;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.Commands;

/// <summary>
/// start41: the one-shot daemon's start-up held below the restorer (<c>scheduling.start-up-below-restorer</c>), its
/// threads lowered once every task is complete (<c>scheduling.after-restore-nice</c>) and readiness signalled after the
/// start-up (<c>scheduling.ready-after-start-up</c>), on the daemon's own process, read from /proc while it runs, with
/// the restore simulator's real processes and uffds.
/// </summary>
public sealed class StartUpSchedulingCommandTests(ITestOutputHelper output)
{
    private const int SchedIdle = 5;

    [SkippableFact]
    public async Task The_start_up_runs_sched_idle_until_the_restorer_connects_and_the_tear_down_at_the_nice_value_given()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        Skip.IfNot(Environment.IsPrivilegedProcess, "lowering and raising the daemon's threads back needs root (engine threads at nice -10)");
        var (log, idleWhileListening) = await RunDaemonAsync("lazy-actors.engine { quick-exit = on, scheduling { start-up-below-restorer = on, after-restore-nice = 19 } }\n");

        if (!SchedulingAvailability.LeaveIdle)
        {
            // Where a SCHED_IDLE thread cannot come back (CAP_SYS_NICE missing or held only in a user namespace), the
            // daemon must not lower anything: it would serve the whole restore from idle-only threads.
            Assert.Equal(0, idleWhileListening);
            Assert.Contains("start-up below the restorer not applied: the kernel refuses", log);
        }
        else
        {
            Assert.True(idleWhileListening > 0, "no thread of the daemon was SCHED_IDLE while it listened and no restorer had connected");
            // Raised when the restorer connected, or at the 2 s bound (this test runs the IL daemon, whose JIT start-up
            // alone can take that long on a loaded machine). The warm-up's copies put their threads back to SCHED_IDLE
            // after their priority ceiling, so some are still lowered at the end.
            var raised = System.Text.RegularExpressions.Regex.Match(log, @"start-up below the restorer until (the restorer connected|the bound) \((\d+) thread\(s\) raised\)");
            Assert.True(raised.Success, "the log does not say what ended the lowered start-up");
            Assert.True(int.Parse(raised.Groups[2].Value, CultureInfo.InvariantCulture) > 0);
        }

        Assert.Matches(@"after every task was complete \d+ thread\(s\) went to nice 19", log);
        Assert.Matches(@"all complete [0-9.]+ \(JIT \d+, CPU \d+\)", log);
        Assert.Contains("quick exit: actors, actor system, no-GC region and mappings left to the process's exit", log);
    }

    [SkippableFact]
    public async Task By_default_no_thread_is_idle_during_the_start_up_and_nothing_is_lowered_after_the_restore()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var (log, idleWhileListening) = await RunDaemonAsync(null);

        Assert.Equal(0, idleWhileListening);
        Assert.DoesNotContain("start-up below the restorer", log);
        Assert.DoesNotContain("went to nice", log);
        Assert.DoesNotContain("quick exit", log);
    }

    [SkippableFact]
    public async Task Readiness_after_the_start_up_is_signalled_once_the_stand_ins_are_warm()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var (log, _) = await RunDaemonAsync("lazy-actors.engine.scheduling.ready-after-start-up = on\n", statusFd: true);

        var warm = log.IndexOf(" stand-ins warm ", StringComparison.Ordinal);
        var ready = log.IndexOf(" ready signalled ", StringComparison.Ordinal);
        Assert.True(warm > 0 && ready > 0, "the start-up line lacks the warm-up or the readiness step");
        // The start-up line lists the steps by time.
        Assert.True(ready > warm, "readiness was signalled before the stand-ins were warm");
    }

    /// <summary>
    /// Runs <c>lazy-pages</c> (no guardian, <c>-v 3</c>, the given HOCON) over a 2 × 4 MiB synthetic checkpoint; while
    /// it listens and before the simulated restorer connects, counts the daemon's SCHED_IDLE threads (the most seen in
    /// any one look over 1 s); then restores with the simulator, checks every byte and the exit code, returns the log.
    /// With <paramref name="statusFd"/> the daemon's readiness byte goes to a file the test waits to see it in.
    /// </summary>
    private async Task<(string Log, int IdleWhileListening)> RunDaemonAsync(string? hocon, bool statusFd = false)
    {
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 4L << 20, 0x5741));
        var args = new List<string> { "lazy-pages", "-D", images, "-W", work.Path, "--no-guardian", "-o", "lp.log", "-v", "3" };
        if (hocon is not null)
        {
            var config = Path.Combine(work.Path, "start41.hocon");
            await File.WriteAllTextAsync(config, hocon);
            args.AddRange(["--config", config]);
        }

        var prefix = HostInvocation.Prefix();
        ProcessStartInfo info;
        var statusFile = Path.Combine(work.Path, "status");
        if (statusFd)
        {
            // The shell opens the status file for writing as descriptor 3, as CRIU passes its pipe.
            info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add("exec \"$@\" --status-fd 3 3>\"$STATUS\"");
            info.ArgumentList.Add("daemon");
            info.Environment["STATUS"] = statusFile;
        }
        else
        {
            info = new ProcessStartInfo(prefix[0]) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        }

        foreach (var arg in (statusFd ? prefix : prefix.Skip(1)).Concat(args))
        {
            info.ArgumentList.Add(arg);
        }

        using var daemon = Process.Start(info)!;
        var stderr = daemon.StandardError.ReadToEndAsync();
        _ = daemon.StandardOutput.ReadToEndAsync();
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (statusFd && !(File.Exists(statusFile) && new FileInfo(statusFile).Length > 0) && DateTime.UtcNow < deadline && !daemon.HasExited)
            {
                await Task.Delay(10);
            }

            while (!File.Exists(Path.Combine(work.Path, LazyPagesHandshake.SocketName)) && DateTime.UtcNow < deadline && !daemon.HasExited)
            {
                await Task.Delay(10);
            }

            if (daemon.HasExited)
            {
                Assert.Fail($"the daemon exited before it listened: {await stderr}");
            }

            var idle = 0;
            var looked = Stopwatch.StartNew();
            while (looked.Elapsed < TimeSpan.FromSeconds(1))
            {
                idle = Math.Max(idle, IdleThreads(daemon.Id));
                await Task.Delay(20);
            }

            var report = new RestoreSimulator(new RestoreSimOptions { ImagesDir = images, WorkDir = work.Path, Timeout = TimeSpan.FromSeconds(60), Progress = output.WriteLine }).Run();
            Assert.True(report.Ok, report.Error);
            Assert.All(report.Tasks, t => Assert.True(t.Ok && t.BytesVerified > 0, $"task {t.Pid}: {t.Error ?? t.FirstMismatch}"));
            Assert.True(daemon.WaitForExit(30_000), "the daemon did not exit once every task was complete");
            if (daemon.ExitCode != 0)
            {
                Assert.Fail($"exit {daemon.ExitCode}: {await stderr}");
            }

            var log = await File.ReadAllTextAsync(Path.Combine(work.Path, "lp.log"));
            output.WriteLine($"SCHED_IDLE threads while listening: {idle}");
            output.WriteLine(log);
            return (log, idle);
        }
        finally
        {
            if (!daemon.HasExited)
            {
                daemon.Kill(entireProcessTree: true);
                await daemon.WaitForExitAsync();
            }
        }
    }

    /// <summary>How many threads of <paramref name="pid"/> are SCHED_IDLE now (field 41 of /proc/PID/task/TID/stat).</summary>
    private static int IdleThreads(int pid)
    {
        var idle = 0;
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{pid}/task");
        }
        catch (DirectoryNotFoundException)
        {
            return 0;
        }

        foreach (var task in tasks)
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                // Fields after the command (which may hold spaces) start at field 3; policy is field 41.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[41 - 3], CultureInfo.InvariantCulture) == SchedIdle)
                {
                    idle++;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // the thread ended meanwhile
            }
        }

        return idle;
    }
}
