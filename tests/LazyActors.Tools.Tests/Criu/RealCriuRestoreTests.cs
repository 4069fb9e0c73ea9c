using LazyActors.Testing;
using LazyActors.Tools.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// Real <c>criu dump</c> + <c>criu restore --lazy-pages</c> (CRIU 4.2 from ../shared/tools/criu-4.2) of real process
/// trees, served by our daemon and by CRIU's own as the baseline: every byte of every task verified after the
/// restore, the daemon exits 0 by itself, and a daemon that serves nothing or dies makes the run fail. Skipped with
/// the reason where CRIU is absent or cannot run.
/// </summary>
public sealed class RealCriuRestoreTests(ITestOutputHelper output) : IDisposable
{
    private readonly ScratchDirectory _dir = new("criu");

    public void Dispose() => _dir.Dispose();

    private async Task<(CriuHarness Harness, CriuCheckpoint Checkpoint)> DumpAsync(CriuWorkload workload, CriuHarnessOptions? options = null)
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, options ?? RealCriuRequirement.TestOptions(output));
        return (harness, await harness.DumpAsync(workload, _dir.Path));
    }

    private CriuRestoreResult Reported(CriuRestoreResult result) => CriuResultAssert.Reported(output, result);

    private static void AssertEveryByteVerified(CriuRestoreResult result, CriuCheckpoint checkpoint)
    {
        CriuResultAssert.EveryByteVerified(result, checkpoint);
        Assert.True(result.ListeningSeconds > 0);
        Assert.True(result.RestoreReturnedSeconds > result.ListeningSeconds);
        Assert.True(result.AllVerifiedSeconds > result.RestoreReturnedSeconds);
        Assert.True(result.DaemonCpuSeconds > 0);
        Assert.True(result.DaemonCpuSecondsPerGiB > 0);
        Assert.True(result.DaemonMaxRssMiB > 0);
        Assert.True(checkpoint.LazyBytes >= checkpoint.Workload.TotalBytes, $"{checkpoint.LazyBytes} lazy bytes for {checkpoint.Workload.TotalBytes} of workload memory");
    }

    [SkippableFact]
    public async Task Our_daemon_restores_a_single_task_every_byte_verified()
    {
        var (harness, checkpoint) = await DumpAsync(new TreeWorkload(1, 48, WorkloadTouch.Rand));

        var result = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Self()));

        AssertEveryByteVerified(result, checkpoint);
        Assert.True(result.TouchP50Us > 0 && result.TouchP99Us >= result.TouchP50Us && result.TouchMaxUs >= result.TouchP99Us);
        Assert.True(result.DaemonPeakAnonRssMiB > 0);
    }

    [SkippableFact]
    public async Task Our_daemon_restores_a_tree_of_four_with_grandchildren_every_byte_verified()
    {
        var (harness, checkpoint) = await DumpAsync(new TreeWorkload(4, 16, WorkloadTouch.Rand, TreeShape.Binary));

        var result = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Self()));

        AssertEveryByteVerified(result, checkpoint);
        Assert.Equal("1", checkpoint.Ready[3].Fields["parent_task"]);
    }

    [SkippableFact]
    public async Task Criu_own_daemon_restores_the_same_checkpoints_as_the_baseline()
    {
        var (harness, single) = await DumpAsync(new TreeWorkload(1, 16, WorkloadTouch.Rand));
        var tree = await harness.DumpAsync(new TreeWorkload(4, 4, WorkloadTouch.Rand, TreeShape.Binary), _dir.CreateSub("tree"));

        foreach (var checkpoint in new[] { single, tree })
        {
            var result = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Criu(harness.Criu)));
            AssertEveryByteVerified(result, checkpoint);
        }
    }

    [SkippableFact]
    public async Task One_checkpoint_is_restored_by_one_daemon_after_another_and_detached()
    {
        var (harness, checkpoint) = await DumpAsync(new TreeWorkload(2, 8, WorkloadTouch.Seq));

        var first = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Self(detach: true)));
        var second = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Criu(harness.Criu, detach: true)));
        var third = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Self()));

        AssertEveryByteVerified(first, checkpoint);
        AssertEveryByteVerified(second, checkpoint);
        AssertEveryByteVerified(third, checkpoint);
        Assert.Equal(3, new[] { first.WorkDirectory, second.WorkDirectory, third.WorkDirectory }.Distinct().Count());
    }

    [SkippableFact]
    public async Task A_real_python_program_answers_correctly_after_a_lazy_restore()
    {
        var (python, problem) = await PythonWorkload.LocateAsync();
        Skip.If(python is null, problem);
        var (harness, checkpoint) = await DumpAsync(new PythonWorkload(python!, MiB: 24, Entries: 100_000));

        var ours = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Self()));
        var criu = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Criu(harness.Criu)));

        AssertEveryByteVerified(ours, checkpoint);
        AssertEveryByteVerified(criu, checkpoint);
        Assert.True(checkpoint.LazyBytes > 24L << 20);
        foreach (var run in new[] { ours, criu })
        {
            // python's own account of trigger -> answer, and the root's state at the trigger (it was sleeping or about to).
            var task = Assert.Single(run.Tasks);
            Assert.True(task.CpuSeconds > 0 && task.RunDelaySeconds >= 0 && task.BlockedSeconds >= 0, $"cpu {task.CpuSeconds}, run delay {task.RunDelaySeconds}, blocked {task.BlockedSeconds}");
            Assert.True(task.CpuSeconds + task.RunDelaySeconds + task.BlockedSeconds <= run.TriggerToVerifiedSeconds + 0.001,
                $"python's own {task.CpuSeconds + task.RunDelaySeconds + task.BlockedSeconds} s against trigger -> answer {run.TriggerToVerifiedSeconds} s");
            Assert.Contains("SigBlk:", run.RootAtTrigger, StringComparison.Ordinal);
            Assert.Contains("syscall", run.RootAtTrigger, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public async Task A_daemon_that_dies_after_the_restore_fails_the_run()
    {
        var options = RealCriuRequirement.TestOptions(output) with
        {
            // The daemon dies with every page unserved: the kernel maps zero pages where the data was, so the tasks
            // crash or spin on zeroed stacks and data; a short bound ends the spinning ones.
            RunTimeout = TimeSpan.FromSeconds(4),
            BeforeTrigger = tree =>
            {
                Assert.Equal(0, Engine.Interop.Libc.Kill(tree.DaemonPid, 9));
                return Task.CompletedTask;
            },
        };
        var (harness, checkpoint) = await DumpAsync(new TreeWorkload(2, 8, WorkloadTouch.Rand), options);
        // Without the crash guardian (the default since issue 12), as CRIU's own daemon behaves.
        var faultsOnly = CriuDaemonSpec.Self() with { ExtraArgs = ["--no-background", "--no-guardian"] };

        var result = Reported(await harness.RestoreAsync(checkpoint, faultsOnly));

        Assert.False(result.Ok);
        Assert.NotEqual(0, result.RootExitCode);
        Assert.Contains(result.Failures, f => f.StartsWith("the restored root", StringComparison.Ordinal));
        Assert.Contains(result.Failures, f => f.StartsWith("the daemon", StringComparison.Ordinal) && f.Contains("signal 9", StringComparison.Ordinal));
        Assert.True(result.BytesVerified < checkpoint.Workload.TotalBytes);
        Assert.True(double.IsNaN(result.AllVerifiedSeconds));
    }

    /// <summary>
    /// Issue 12 with real CRIU: one task's copy fails for good (an injected EFAULT from UFFDIO_COPY). That task cannot be
    /// served, and once its actor stops its uffd is closed: were its process left running it would read zeros where its
    /// data was. So the daemon stops that process first (it knows its host pid from the handshake) and names it; every
    /// other task is served, and no task ever reports a wrong byte. The daemon exits 1.
    /// </summary>
    [SkippableFact]
    public async Task A_task_that_cannot_be_served_is_stopped_before_it_reads_zeros()
    {
        var (harness, checkpoint) = await DumpAsync(new TreeWorkload(3, 16, WorkloadTouch.Rand));
        // Faults only, and the 100th copy fails: past the few pages `criu restore` itself touches (a task stopped then
        // fails the restore, which is right too, but shows less), inside the tasks' own random touching.
        var config = await WriteConfigAsync("efault.hocon", "lazy-actors.engine.fault-injection = \"seed=7; uffd.copy=EFAULT@100\"\n");
        var spec = CriuDaemonSpec.Self() with { ExtraArgs = ["--config", config, "--no-guardian", "--no-background"] };

        var result = Reported(await harness.RestoreAsync(checkpoint, spec));

        Assert.Equal(1, result.DaemonExitCode);
        var log = await File.ReadAllTextAsync(Path.Combine(result.WorkDirectory, "daemon.log"));
        Assert.Contains("EFAULT", log, StringComparison.Ordinal);
        Assert.Matches(@"host pid \d+\) was sent signal 9 before its uffd was closed", log);
        // A task that wrote a result verified every byte it holds: none ran on zero-filled memory.
        Assert.DoesNotContain(result.Failures, f => System.Text.RegularExpressions.Regex.IsMatch(f, @"^task \d+: "));
        Assert.Contains(result.Failures, f => f.Contains("wrote no result", StringComparison.Ordinal) || f.StartsWith("the restored root", StringComparison.Ordinal));
        Assert.True(result.BytesVerified >= checkpoint.Workload.BytesPerTask, "the tasks not hit were not served");
    }

    /// <summary>
    /// Issue 12, crash safety, with real CRIU: the same kill -9 of the daemon once `criu restore` returned (the tree is
    /// restored, its memory lazy, background transfer under way), but with the guardian (the default): a successor
    /// takes every uffd over, the tasks are woken and served, and every byte of every task is right. The one failure left
    /// is the killed daemon's own exit status.
    /// </summary>
    [SkippableFact]
    public async Task A_daemon_killed_after_the_restore_is_replaced_and_every_byte_is_right()
    {
        var killed = 0;
        var options = RealCriuRequirement.TestOptions(output) with
        {
            BeforeTrigger = tree =>
            {
                killed = tree.DaemonPid;
                Assert.Equal(0, Engine.Interop.Libc.Kill(tree.DaemonPid, 9));
                return Task.CompletedTask;
            },
        };
        var (harness, checkpoint) = await DumpAsync(new TreeWorkload(3, 32, WorkloadTouch.Rand, TreeShape.Binary), options);
        // The background push is held back a few seconds: a daemon this fast has otherwise pushed every page before
        // `criu restore` even returns, and the kill would find nothing left to resume ("died after every task was served").
        var config = await WriteConfigAsync("hold-push.hocon", "lazy-actors.engine.background-push-delay = 3s\n");

        var result = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Self() with { ExtraArgs = ["--config", config] }));

        AssertResumedAfterOneKill(result, checkpoint, killed);
        var log = await File.ReadAllTextAsync(Path.Combine(result.WorkDirectory, "daemon.log"));
        Assert.Contains("resuming a restore whose daemon died (restart 1)", log, StringComparison.Ordinal);
    }

    /// <summary>
    /// Issue 12 with real CRIU, the daemon SIGKILLed once it listens and before <c>criu restore</c> even starts: the
    /// restorer's connection waits in the backlog of the guardian's copy of lazy-pages.socket, the successor accepts it and
    /// serves the whole restore, every byte right.
    /// </summary>
    [SkippableFact]
    public async Task A_daemon_killed_before_the_restorer_connects_is_replaced_and_every_byte_is_right()
    {
        var killed = 0;
        var options = RealCriuRequirement.TestOptions(output) with
        {
            BeforeRestore = moment =>
            {
                killed = moment.DaemonPid;
                Assert.Equal(0, Engine.Interop.Libc.Kill(moment.DaemonPid, 9));
                return Task.CompletedTask;
            },
        };
        var (harness, checkpoint) = await DumpAsync(new TreeWorkload(3, 16, WorkloadTouch.Rand, TreeShape.Binary), options);

        var result = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Self()));

        AssertResumedAfterOneKill(result, checkpoint, killed);
        var log = await File.ReadAllTextAsync(Path.Combine(result.WorkDirectory, "daemon.log"));
        Assert.Contains("resuming a restore whose daemon died (restart 1): 0 pstree entries and 0 uffd records journalled", log, StringComparison.Ordinal);
    }

    /// <summary>
    /// Issue 12 with real CRIU, the daemon SIGKILLed in the middle of the handshake: once the first task's uffd arrived,
    /// <c>criu restore</c> is paused (SIGSTOP: it cannot send "restore finished" meanwhile), the daemon is killed, and
    /// criu goes on once the guardian started the successor. The successor goes on from the journalled handshake position
    /// and serves the restore, every byte right.
    /// </summary>
    [SkippableFact]
    public async Task A_daemon_killed_mid_handshake_is_replaced_and_every_byte_is_right()
    {
        var killed = 0;
        var finishedBeforeKill = true;
        var options = RealCriuRequirement.TestOptions(output) with
        {
            DuringRestore = async moment =>
            {
                var log = Path.Combine(moment.WorkDirectory, "daemon.log");
                Assert.True(await WaitForAsync(() => ReadLog(log).Contains("uffd received", StringComparison.Ordinal), TimeSpan.FromSeconds(30)), $"no uffd arrived: {ReadLog(log)}");
                Assert.Equal(0, Engine.Interop.Libc.Kill(moment.RestorePid, 19));
                try
                {
                    finishedBeforeKill = ReadLog(log).Contains("restore finished; pushing", StringComparison.Ordinal);
                    killed = moment.DaemonPid;
                    Assert.Equal(0, Engine.Interop.Libc.Kill(moment.DaemonPid, 9));
                    Assert.True(await WaitForAsync(() => ReadLog(log + ".guardian").Contains("starting successor", StringComparison.Ordinal), TimeSpan.FromSeconds(30)), "no successor was started");
                }
                finally
                {
                    _ = Engine.Interop.Libc.Kill(moment.RestorePid, 18);
                }
            },
        };
        var (harness, checkpoint) = await DumpAsync(new TreeWorkload(3, 16, WorkloadTouch.Rand, TreeShape.Binary), options);

        // -v 3: the handshake's steps ("uffd received") are info lines, which the hook above waits for. The first page
        // reads are held 1.5 s each: `criu restore` waits for the lazy pages its tasks touch before "restore finished",
        // so it is still in the handshake when the hook stops it (without the delay a fast daemon let it return first).
        var config = await WriteConfigAsync("slow-first-reads.hocon", "lazy-actors.engine.fault-injection = \"seed=1; source.delay=1500@1x3\"\n");
        var result = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Self() with { ExtraArgs = ["-v", "3", "--config", config] }));

        Assert.False(finishedBeforeKill, "\"restore finished\" had arrived before the kill: the kill was not mid-handshake");
        AssertResumedAfterOneKill(result, checkpoint, killed);
        var log = await File.ReadAllTextAsync(Path.Combine(result.WorkDirectory, "daemon.log"));
        Assert.Matches(@"(?i)resuming after 1 daemon death\(s\): [1-9]\d* uffd\(s\) in the journal, \d+ of \d+ pstree entries received, restore finished: False", log);
    }

    /// <summary>The killed daemon's exit status is the one failure; every byte right; the successor ended with 0.</summary>
    private static void AssertResumedAfterOneKill(CriuRestoreResult result, CriuCheckpoint checkpoint, int killed)
    {
        var daemonFailure = Assert.Single(result.Failures);
        Assert.StartsWith($"the daemon (pid {killed})", daemonFailure, StringComparison.Ordinal);
        Assert.Contains("signal 9", daemonFailure, StringComparison.Ordinal);
        Assert.Equal(0, result.RootExitCode);
        Assert.Equal(checkpoint.Workload.TotalBytes, result.BytesVerified);
        Assert.All(result.Tasks, t => Assert.Equal(checkpoint.Workload.BytesPerTask, t.BytesVerified));
        Assert.Contains("ended the restore with exit code 0", File.ReadAllText(Path.Combine(result.WorkDirectory, "daemon.log.guardian")), StringComparison.Ordinal);
    }

    /// <summary>A HOCON file for the daemon's <c>--config</c>, in this test's scratch directory.</summary>
    private async Task<string> WriteConfigAsync(string name, string hocon)
    {
        var path = Path.Combine(_dir.Path, name);
        await File.WriteAllTextAsync(path, hocon);
        return path;
    }

    private static string ReadLog(string path) => File.Exists(path) ? BackgroundVerb.ReadShared(path) : string.Empty;

    private static async Task<bool> WaitForAsync(Func<bool> condition, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(2);
        }

        return true;
    }

    [SkippableFact]
    public async Task A_daemon_that_signals_readiness_but_serves_nothing_fails_the_run()
    {
        var (harness, checkpoint) = await DumpAsync(new TreeWorkload(1, 4, WorkloadTouch.Seq));
        var hollow = new CriuDaemonSpec
        {
            Label = "hollow",
            Template = ["/bin/sh", "-c", "while [ $# -gt 0 ]; do [ \"$1\" = --status-fd ] && fd=$2; shift; done; eval \"printf '\\\\000' >&$fd\"; exit 0", "hollow"],
        };

        var result = Reported(await harness.RestoreAsync(checkpoint, hollow));

        Assert.False(result.Ok);
        Assert.Contains(result.Failures, f => f.Contains("criu", StringComparison.Ordinal) && f.Contains("restore", StringComparison.Ordinal));
        Assert.Contains(result.Notes, n => n.Contains("lazy-pages.socket", StringComparison.Ordinal));
        Assert.Equal(0, result.BytesVerified);

        // The checkpoint is intact: a real daemon still restores it.
        AssertEveryByteVerified(Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Self())), checkpoint);
    }
}
