using System.Globalization;
using System.Net;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.EndToEnd;

/// <summary>
/// Issue 12, crash safety: <c>kill -9</c> of the process the user started as <c>lazy-pages</c> (or of the pid in its
/// pidfile) at each moment of a restore, and the restore still completes with every byte verified by the restore
/// simulator, with nothing left behind; a daemon that keeps dying ends in a stopped tree and an error naming the tasks
/// and ranges. Each restore runs real processes on real userfaultfd against the real daemon and its guardian.
/// </summary>
public sealed class CrashResumeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(90);

    [SkippableFact]
    public void Killed_while_serving_faults_with_a_fork_child_alive_the_restore_completes_in_a_successor()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        Assert.Null(ForkHelper.UnavailableReason());
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(4, 64L << 20, 0xC4A5));
        // Faults only (no background push): the tasks' random touches keep the daemon serving for seconds, so the kill
        // lands while it serves, right after the first task forked (its FORK logged) and "restore finished" was journalled
        // (logged after the journal record: on a loaded machine the FORK event was read before the restorer's word, and
        // the successor rightly found the restore unfinished, CI-like run 22).
        // Every page read is 2 ms late: the fork child's own faults then take seconds too. Without it, on the fast CI
        // machine the child had touched its 64 MiB in 202 ms and was complete before the kill, and there was nothing
        // of it left to take over.
        var config = Path.Combine(work.Path, "slow-reads.hocon");
        File.WriteAllText(config, "lazy-actors.engine.fault-injection = \"seed=1; source.delay=2%1\"\n");
        using var daemon = GuardedDaemon.Start(images, work.Path, "--no-background", "--config", config);
        int? killed = null;
        var killer = new Thread(() =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(60)
                && !(daemon.Log() is var log && log.Contains(": FORK: child", StringComparison.Ordinal) && log.Contains("restore finished; pushing", StringComparison.Ordinal)))
            {
                Thread.Sleep(5);
            }

            killed = daemon.KillDaemon();
        });
        killer.Start();
        var report = new RestoreSimulator(new RestoreSimOptions
        {
            ImagesDir = images,
            WorkDir = work.Path,
            Scenario = SimScenario.Fork,
            Timeout = TimeLimit,
            Progress = output.WriteLine,
        }).Run();
        Assert.True(killer.Join(TimeSpan.FromSeconds(70)));

        Finish(daemon, report);
        Assert.Equal(daemon.FirstPid, killed);
        var log = daemon.Log();
        Assert.Contains("resuming after 1 daemon death(s)", log);
        Assert.Contains("restore finished: true", log, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(report.Tasks, t => t.Role == "fork-child");
        Assert.Matches(@"1000-fork\d+: taken over", log);
        Assert.NotEqual(daemon.FirstPid, daemon.CurrentPid); // the pidfile names the successor
    }

    [SkippableFact]
    public void Killed_before_the_restorer_connects_the_connection_waits_in_the_guardians_socket()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 8L << 20, 0xC4A6));
        using var daemon = GuardedDaemon.Start(images, work.Path);
        var dead = daemon.KillDaemon();

        // No successor yet, or one already: either way the restorer's connect succeeds (the guardian's socket listens).
        var report = new RestoreSimulator(new RestoreSimOptions { ImagesDir = images, WorkDir = work.Path, Timeout = TimeLimit, Progress = output.WriteLine }).Run();

        Finish(daemon, report);
        Assert.Equal(daemon.FirstPid, dead);
        Assert.Contains("resuming after 1 daemon death(s): 0 uffd(s) in the journal, 0 of 2 pstree entries received", daemon.Log());
    }

    [SkippableTheory]
    [InlineData(HandshakeStep.Connected, 0)]
    [InlineData(HandshakeStep.EntrySent, 1)]
    [InlineData(HandshakeStep.PidSent, 1)]
    [InlineData(HandshakeStep.EntrySent, 3)]
    public void Killed_in_the_middle_of_the_handshake_the_successor_goes_on_from_the_journalled_entry(HandshakeStep at, int entries)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(3, 8L << 20, 0xC4A7));
        using var daemon = GuardedDaemon.Start(images, work.Path);
        var killed = false;
        var report = new RestoreSimulator(new RestoreSimOptions
        {
            ImagesDir = images,
            WorkDir = work.Path,
            Timeout = TimeLimit,
            Progress = output.WriteLine,
            HandshakeHook = (step, sent) =>
            {
                if (step == at && sent == entries && !killed)
                {
                    // Let the daemon take (and journal) what was sent, then kill it; the restorer goes on writing into
                    // the connection the guardian holds. Its "uffd received" line comes after the journal record; a
                    // fixed 300 ms was too short once in a CI-like run.
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    while (CountOf(daemon.Log(), ": uffd received") < entries && clock.Elapsed < TimeSpan.FromSeconds(30))
                    {
                        Thread.Sleep(10);
                    }

                    Thread.Sleep(100);
                    daemon.KillDaemon();
                    killed = true;
                }
            },
        }).Run();

        Finish(daemon, report);
        Assert.True(killed);
        // A pid whose uffd had not arrived yet was never consumed: the successor reads it afresh.
        Assert.Contains($"{entries} of 3 pstree entries received, restore finished: false", daemon.Log(), StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Killed while the background push runs (the tasks hold their first touch, so only the pusher copies; every read is
    /// 10 ms late and chunks stay at 64 KiB so the push lasts seconds): the successor finds part of each task copied
    /// (the journalled progress) and part pending, pushes the rest, and every byte is right.
    /// </summary>
    [SkippableFact]
    public async Task Killed_while_pushing_the_successor_pushes_the_rest()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(4, 32L << 20, 0xC4A9));
        var config = Path.Combine(work.Path, "slow-push.hocon");
        await File.WriteAllTextAsync(config, "lazy-actors.engine {\n  chunk-max = 64KiB\n  chunks-in-flight-per-task = 1\n  fault-injection = \"seed=1; source.delay=10%1\"\n}\n");
        using var daemon = GuardedDaemon.Start(images, work.Path, "--config", config);
        var killer = KillWhenLoggedAsync(daemon, "restore finished; pushing", TimeSpan.FromSeconds(2));
        var report = await Task.Run(() => new RestoreSimulator(new RestoreSimOptions
        {
            ImagesDir = images,
            WorkDir = work.Path,
            Timeout = TimeLimit,
            Progress = output.WriteLine,
            HoldBeforeTouch = TimeSpan.FromSeconds(8),
        }).Run());

        Assert.Equal(daemon.FirstPid, await killer);
        var log = daemon.Log();
        output.WriteLine(string.Join("\n", log.Split('\n').Where(l => l.Contains("pushing", StringComparison.Ordinal) || l.Contains("taken over", StringComparison.Ordinal) || l.Contains("resuming", StringComparison.Ordinal))));
        Finish(daemon, report);
        Assert.Contains("restore finished: true", log, StringComparison.OrdinalIgnoreCase);
        Assert.Matches(@"taken over, [1-9]\d* of \d+ lazy pages still pending \([1-9]\d* copied before\)", log);
    }

    /// <summary>
    /// A remote restore from our page server, the daemon killed once connected and after "restore finished" (faults only,
    /// the tasks touch at random over 4 × 32 MiB once it is dead): the successor takes the uffds over, connects to the
    /// page server again (ours accepts any number of connections) and fetches every page, every byte right. The tasks
    /// wait for the kill (a touch gate): with 512 KiB fault windows they had every page before a kill timed 300 ms after
    /// "restore finished" (CI run 23).
    /// </summary>
    [SkippableFact]
    public async Task Killed_while_connected_to_our_page_server_the_successor_reconnects_and_finishes()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(4, 32L << 20, 0xC4AA));
        using var store = LazyPageStore.Open(images);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0));
        using var daemon = GuardedDaemon.Start(images, work.Path, "--no-background", "--page-server", "--address", "127.0.0.1", "--port", server.LocalEndPoint.Port.ToString(CultureInfo.InvariantCulture));
        long sessionsAtKill = 0;
        var gate = new TouchGate(work);
        var killer = KillWhenLoggedAsync(daemon, "restore finished; pushing", TimeSpan.Zero, () => sessionsAtKill = server.SessionsAccepted, gate);
        var report = await Task.Run(() => new RestoreSimulator(new RestoreSimOptions
        {
            ImagesDir = images,
            WorkDir = work.Path,
            Timeout = TimeLimit,
            TouchGate = gate.Path,
            Progress = output.WriteLine,
        }).Run());

        Assert.Equal(daemon.FirstPid, await killer);
        Finish(daemon, report);
        var log = daemon.Log();
        Assert.Matches(@"taken over, [1-9]\d* of \d+ lazy pages still pending", log);
        Assert.True(sessionsAtKill > 0, "the first daemon had not connected to the page server");
        Assert.True(server.SessionsAccepted > sessionsAtKill, $"the successor did not connect to the page server again ({server.SessionsAccepted} session(s), {sessionsAtKill} at the kill)");
    }

    /// <summary>Kills the first daemon <paramref name="after"/> once its log holds <paramref name="text"/> (bounded),
    /// then opens <paramref name="gate"/>; the killed pid, or 0 when the text never came.</summary>
    private static Task<int> KillWhenLoggedAsync(GuardedDaemon daemon, string text, TimeSpan after, Action? atKill = null, TouchGate? gate = null) => Task.Run(() =>
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!daemon.Log().Contains(text, StringComparison.Ordinal))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                gate?.Open();
                return 0;
            }

            Thread.Sleep(5);
        }

        Thread.Sleep(after);
        atKill?.Invoke();
        var killed = daemon.KillDaemon();
        gate?.Open();
        return killed;
    });

    [SkippableFact]
    public void Killed_again_and_again_past_the_restart_budget_the_tree_is_stopped_and_the_error_names_tasks_and_ranges()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 32L << 20, 0xC4A8));
        var config = Path.Combine(work.Path, "budget.hocon");
        File.WriteAllText(config, "lazy-actors.engine.crash-safety.restart-budget = 1\nlazy-actors.engine.background-push = off\n");
        using var daemon = GuardedDaemon.Start(images, work.Path, "--config", config);
        var deaths = new List<int>();
        var report = new RestoreSimulator(new RestoreSimOptions
        {
            ImagesDir = images,
            WorkDir = work.Path,
            Timeout = TimeSpan.FromSeconds(60),
            Progress = output.WriteLine,
            HoldBeforeTouch = TimeSpan.FromSeconds(30),
            HandshakeHook = (step, sent) =>
            {
                if (step == HandshakeStep.FinishedSent && sent > 0)
                {
                    _ = Task.Run(() =>
                    {
                        Thread.Sleep(300);
                        var first = daemon.KillDaemon();
                        deaths.Add(first);
                        if (daemon.WaitForSuccessor(first, TimeSpan.FromSeconds(30)) is not null)
                        {
                            Thread.Sleep(1500);
                            deaths.Add(daemon.KillDaemon());
                        }
                    });
                }
            },
        }).Run();

        output.WriteLine(daemon.GuardianLog());
        Assert.False(report.Ok, "the tree ran on although its daemon was gone for good");
        Assert.Equal(2, deaths.Count);
        Assert.True(daemon.WaitForAllGone(TimeSpan.FromSeconds(30)), $"left behind: {string.Join(", ", daemon.Leftovers())}");
        var status = File.ReadAllText(daemon.StatusFile);
        output.WriteLine(status);
        Assert.Contains("crash safety gave up: the daemon died 2 time(s) (restart budget 1 spent)", status);
        Assert.Contains("SIGKILL to", status);
        Assert.Matches(@"task 1000: \d+ page\(s\) not confirmed copied in \d+ range\(s\): 0x[0-9a-f]+-0x[0-9a-f]+", status);
        Assert.Matches(@"task 1001: \d+ page\(s\) not confirmed copied", status);
        Assert.All(report.Tasks, t => Assert.False(t.Ok));
    }

    [SkippableFact]
    public void The_guardian_starts_below_normal_priority_and_its_successor_runs_at_normal_priority()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        Skip.IfNot(CrashSafety.GuardianPriority.ShouldLower(), "only a privileged daemon at nice 0 lowers its guardian's start-up priority (it must be able to raise it back; another nice value is passed on unchanged)");
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 8L << 20, 0xC4A7));
        using var daemon = GuardedDaemon.Start(images, work.Path);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Killed only once the daemon is ready (its "listening on" line follows the hand-over of the listener to the
        // guardian, as the readiness byte does): a restorer connects after readiness, and a daemon killed before it has
        // handed nothing over, so its successor binds a socket of its own that the simulator could meet half made.
        while (!(daemon.GuardianLog().Contains("now at normal priority", StringComparison.Ordinal) && daemon.Log().Contains("listening on", StringComparison.Ordinal))
            && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(20);
        }

        Assert.Contains("listening on", daemon.Log());

        Assert.Contains($"started at nice {CrashSafety.GuardianPriority.StartUpNice} (below the restore), now at normal priority", daemon.GuardianLog());
        var dead = daemon.KillDaemon();
        var successor = daemon.WaitForSuccessor(dead, TimeSpan.FromSeconds(30));
        Assert.NotNull(successor);
        Assert.Equal(0, CrashSafety.GuardianPriority.NiceOf(successor.Value)); // the guardian's main thread, back at normal priority, started it

        var report = new RestoreSimulator(new RestoreSimOptions { ImagesDir = images, WorkDir = work.Path, Timeout = TimeLimit, Progress = output.WriteLine }).Run();

        Finish(daemon, report);
    }

    [Fact]
    public void Lowering_a_started_process_for_its_start_up_sets_nice_10_when_allowed()
    {
        using var sleeper = System.Diagnostics.Process.Start("sleep", "30");
        try
        {
            var before = CrashSafety.GuardianPriority.NiceOf(sleeper.Id);
            var lowered = CrashSafety.GuardianPriority.LowerForStartUp(sleeper);

            Assert.Equal(lowered ? CrashSafety.GuardianPriority.StartUpNice : before, CrashSafety.GuardianPriority.NiceOf(sleeper.Id));
            Assert.True(lowered || !Environment.IsPrivilegedProcess, "a privileged process may lower another one");
        }
        finally
        {
            sleeper.Kill();
            sleeper.WaitForExit(10_000);
        }
    }

    /// <summary>Every byte verified, the guardian and every successor gone, no status file, no socket left.</summary>
    private void Finish(GuardedDaemon daemon, SimReport report)
    {
        SimulatorTestSupport.WriteTasks(output, report);
        output.WriteLine(daemon.GuardianLog());
        Assert.True(report.Ok, $"{report.Error}\n{daemon.Stderr()}");
        Assert.All(report.Tasks, t => Assert.Equal(0, t.Mismatches));
        Assert.True(daemon.WaitForAllGone(TimeSpan.FromSeconds(30)), $"left behind: {string.Join(", ", daemon.Leftovers())}");
        Assert.Contains("ended the restore with exit code 0", daemon.GuardianLog());
        Assert.False(File.Exists(daemon.StatusFile));
    }

    private static int CountOf(string text, string what)
    {
        var count = 0;
        for (var at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + what.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
