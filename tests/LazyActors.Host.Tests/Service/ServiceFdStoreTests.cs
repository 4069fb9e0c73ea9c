using System.Diagnostics;
using System.Text.Json;
using LazyActors.Engine.CrashSafety;
using LazyActors.Host.Control;
using LazyActors.Testing;
using LazyActors.Tools;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Tests.Service;

/// <summary>
/// The hosted service under systemd survives its own crash: each job's descriptors are in systemd's file-descriptor store
/// (<see cref="FakeSystemd"/> plays systemd: it keeps what <c>FDSTORE=1</c> sends and starts the successor with it at 3,
/// 4, ... and <c>LISTEN_PID</c>/<c>LISTEN_FDS</c>/<c>LISTEN_FDNAMES</c>), its journal in the service's state directory;
/// <c>serve</c> is SIGKILLed mid-restore and its successor finishes the job, every byte verified, or, when a descriptor
/// did not come back, stops the restored tree and lists the job failed with the reason.
/// </summary>
public sealed class ServiceFdStoreTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [SkippableFact]
    public async Task A_service_killed_mid_push_is_resumed_by_its_successor_from_the_fd_store_every_byte_right()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var scratch = new ScratchDirectory("sdfd");
        var images = scratch.CreateSub("ckpt");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(4, 16L << 20, 0xFD57));
        var work = scratch.CreateSub("work");
        using var systemd = FakeSystemd.Start(scratch.Sub("notify.sock"));
        var environment = SystemdEnvironment(systemd, scratch.CreateSub("state"));

        Proto.Job job;
        Task<SimReport> restore;
        await using (var first = await ServiceProcess.StartAsync(scratch.CreateSub("first"), http: false, environment))
        {
            using var client = first.Client();
            // Slow reads (20 ms each, chunks of at most 256 KiB) and tasks that wait 3 s before touching: the push is under
            // way when the service dies, and most pages are still to come, by push or by fault, from its successor.
            job = await ServiceRestores.StartAsync(client, images, work, ("background-push-delay", "200ms"), ("chunk-max", "256KiB"), ("fault-injection", "seed=7; source.delay=20%1"));
            Assert.True(systemd.WaitUntil(names => names.Count == 1, Bound), $"the listening socket did not reach the store: {string.Join(", ", systemd.Stored)}");
            // The simulator's waits include the successor's start (a .NET service: tens of seconds on a loaded machine).
            restore = ServiceRestores.RestoreAsync(images, work, hold: TimeSpan.FromSeconds(3), timeout: TimeSpan.FromSeconds(180));
            var copied = await WaitForPushAsync(client, job.Id, tasks: 4);
            output.WriteLine($"serve (pid {first.Pid}) SIGKILLed with {copied} pages copied; in the store: {string.Join(", ", systemd.Stored)}");
            await first.SignalAsync("KILL");
        }

        // The restorer's connection and the four uffds (the listener left the store once the restorer was in).
        Assert.Equal(5, systemd.Stored.Count(n => n.StartsWith(job.Id + "-", StringComparison.Ordinal)));
        var (launcher, inherited) = systemd.PassStore();
        ServiceProcess second;
        using (inherited)
        {
            second = await ServiceProcess.StartAsync(scratch.CreateSub("second"), launcher, http: false, environment);
        }

        await using (second)
        {
            using var client = second.Client();
            var (last, events) = await ServiceRestores.WatchAsync(client, job.Id);
            var report = await restore.WaitAsync(TimeSpan.FromSeconds(200));
            SimulatorTestSupport.WriteTasks(output, report);
            output.WriteLine(string.Join("\n", events.Select(e => $"{e.Kind}: {e.Message}")));
            ServiceRestores.AssertVerified(report);
            Assert.True(last.State == Proto.JobState.Completed && last.ExitCode == 0, $"{last.State} {last.ExitCode}: {last.Error}\n{second.Output}");
            Assert.Contains(events, e => e.Kind == "resumed");
            Assert.Equal(4, last.Tasks.Count(t => t.Phase == "complete"));
        }

        // The job ended: nothing of it is left in the store or the state directory.
        Assert.True(systemd.WaitUntil(names => names.Count == 0, Bound), $"left in the store: {string.Join(", ", systemd.Stored)}");
        Assert.Empty(Directory.GetFiles(Path.Combine(environment["LazyActors__Service__StateDirectory"], "jobs")));
    }

    [SkippableFact]
    public async Task A_job_whose_uffd_did_not_come_back_has_its_tree_stopped_and_is_reported_failed_with_the_reason()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var scratch = new ScratchDirectory("sdfm");
        var images = scratch.CreateSub("ckpt");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(3, 8L << 20, 0xFD5E));
        var work = scratch.CreateSub("work");
        var state = scratch.CreateSub("state");
        using var systemd = FakeSystemd.Start(scratch.Sub("notify.sock"));
        var environment = SystemdEnvironment(systemd, state);

        Proto.Job job;
        Process? restorer = null;
        Task<string>? restorerOutput = null;
        try
        {
            await using (var first = await ServiceProcess.StartAsync(scratch.CreateSub("first"), http: false, environment))
            {
                using var client = first.Client();
                job = await ServiceRestores.StartAsync(client, images, work, ("background-push-delay", "200ms"), ("chunk-max", "256KiB"), ("fault-injection", "seed=3; source.delay=20%1"));
                // The restorer in a process of its own: stopping "the restored tree" must find the simulator's tasks under
                // it, not under this test process.
                (restorer, restorerOutput) = StartRestoreSim(images, work);
                await WaitForPushAsync(client, job.Id, tasks: 3);
                await first.SignalAsync("KILL");
            }

            // systemd hands everything back but one task's uffd (held here, so the kernel keeps it registered and the
            // task's faults wait instead of reading zeros).
            var records = FdStoreKeeper.ReadJournalFile(Path.Combine(state, "jobs", job.Id + ".journal"));
            var taskIndex = records.Select((r, i) => (r, i)).First(x => x.r.Record.Kind == JournalRecordKind.Task && x.r.Stored).i;
            var pid = records[taskIndex].Record.Number;
            using var withheld = systemd.Withdraw(FdStoreKeeper.NameOf(job.Id, taskIndex));
            var (launcher, inherited) = systemd.PassStore();
            ServiceProcess second;
            using (inherited)
            {
                second = await ServiceProcess.StartAsync(scratch.CreateSub("second"), launcher, http: false, environment);
            }

            await using (second)
            {
                using var client = second.Client();
                var failed = await client.Jobs.GetJobAsync(new Proto.JobRequest { Id = job.Id });
                output.WriteLine($"{failed.State}: {failed.Error}");
                Assert.Equal(Proto.JobState.Failed, failed.State);
                Assert.Equal(1, failed.ExitCode);
                Assert.Contains($"did not hand back the uffd of task {pid}", failed.Error, StringComparison.Ordinal);
                Assert.Contains("SIGKILL to", failed.Error, StringComparison.Ordinal);
            }

            // The tasks were killed: the simulator reports them gone, none of them read a wrong byte.
            Assert.True(restorer.WaitForExit(Bound), "restore-sim did not end after its tasks were stopped");
            var report = ReadReport(restorer, await restorerOutput!.WaitAsync(Bound));
            output.WriteLine(JsonSerializer.Serialize(report));
            Assert.False(report.Ok, "the restore was reported whole although a task's uffd was lost");
            Assert.NotEmpty(report.Tasks);
            Assert.All(report.Tasks, t => Assert.Equal(0, t.Mismatches));
            Assert.True(systemd.WaitUntil(names => names.Count == 0, Bound), $"left in the store: {string.Join(", ", systemd.Stored)}");
            Assert.Empty(Directory.GetFiles(Path.Combine(state, "jobs")));
        }
        finally
        {
            if (restorer is { HasExited: false })
            {
                restorer.Kill(entireProcessTree: true);
                restorer.WaitForExit(10_000);
            }

            restorer?.Dispose();
        }
    }

    private static Dictionary<string, string> SystemdEnvironment(FakeSystemd systemd, string state) => new()
    {
        ["NOTIFY_SOCKET"] = systemd.NotifySocket,
        ["LazyActors__Service__StateDirectory"] = state,
    };

    /// <summary>Waits until the restore finished and pages are being copied, none of the tasks complete yet; returns the
    /// pages copied.</summary>
    private static async Task<long> WaitForPushAsync(ControlClient client, string id, int tasks)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Bound)
        {
            var job = await client.Jobs.GetJobAsync(new Proto.JobRequest { Id = id });
            var copied = job.Tasks.Sum(t => t.CopiedByFaults + t.CopiedByPush);
            Assert.False(job.State is Proto.JobState.Completed or Proto.JobState.Failed, $"the job ended ({job.State}) before the service could be killed mid-restore");
            if (job.State == Proto.JobState.Serving && job.Tasks.Count == tasks && copied > 0)
            {
                Assert.True(job.Tasks.All(t => t.Phase == "serving"), "a task completed before the service could be killed mid-restore");
                return copied;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"job {id} never got to copying pages within {Bound.TotalSeconds:0} s");
    }

    private static (Process Process, Task<string> Stdout) StartRestoreSim(string images, string work)
    {
        var prefix = ToolsInvocation.Prefix();
        var info = new ProcessStartInfo(prefix[0]) { RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false };
        foreach (var word in prefix.Skip(1).Concat(["restore-sim", "-D", images, "-W", work, "--touch", "rand", "--json", "--timeout", "180"]))
        {
            info.ArgumentList.Add(word);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start restore-sim");
        return (process, process.StandardOutput.ReadToEndAsync());
    }

    private static SimReport ReadReport(Process restorer, string stdout)
    {
        var line = stdout.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{'))
            ?? throw new InvalidOperationException($"restore-sim exited {restorer.ExitCode} without a report: {stdout}");
        return JsonSerializer.Deserialize<SimReport>(line) ?? throw new InvalidOperationException($"unreadable report: {line}");
    }
}
