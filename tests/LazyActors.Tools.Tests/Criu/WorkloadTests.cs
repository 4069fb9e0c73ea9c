using LazyActors.Testing;
using LazyActors.Tools.Criu;
using Xunit;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// The harness's workloads run without CRIU: started under the subreaper, ready files, SIGUSR1 to the root forwarded
/// down the tree, every task touches and verifies its memory and reports, the root reaps all and exits 0.
/// </summary>
public sealed class WorkloadTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly ScratchDirectory _dir = new("wl");

    public void Dispose() => _dir.Dispose();

    [SkippableTheory]
    [InlineData(WorkloadTouch.Seq, TreeShape.Flat)]
    [InlineData(WorkloadTouch.Rand, TreeShape.Binary)]
    [InlineData(WorkloadTouch.Stride, TreeShape.Binary)]
    public async Task Every_task_of_the_tree_verifies_its_memory_after_the_trigger(WorkloadTouch touch, TreeShape shape)
    {
        Skip.If(CriuHelpers.MissingReason() is not null, CriuHelpers.MissingReason());
        var workload = new TreeWorkload(5, 4, touch, shape, StridePages: 7);

        var (outcome, ready, reports) = await RunAsync(workload);

        // The root reaps its children (and they theirs): the reaper sees the root alone, exiting 0.
        Assert.Equal(0, outcome.ExitCode);
        Assert.Equal(0, Assert.Single(outcome.Exits).ExitCode);
        Assert.Equal(Enumerable.Range(0, 5), reports.Select(r => r.Task).Order());
        foreach (var report in reports)
        {
            Assert.Null(workload.Problem(ready[report.Task], report));
            Assert.Equal(1024, report.Pages);
            Assert.Equal(0, report.ZeroPages);
            Assert.True(report.P50Ns > 0 && report.P50Ns <= report.P99Ns && report.P99Ns <= report.MaxNs);
            Assert.Equal(report.Pages, Assert.IsType<long[]>(report.TouchHistogram).Sum());
            Assert.Equal(250_000, report.SlowTouchNs);
            var slowList = Path.Combine(_dir.Path, "wl", $"slow-{report.Task}.tsv");
            var listed = File.Exists(slowList) ? (await File.ReadAllLinesAsync(slowList)).Length - 1 : 0; // a header, then one line per touch
            Assert.Equal(report.SlowTouches, listed);
            Assert.True(report.VerifiedMonoNs > report.TriggerMonoNs);
            Assert.Equal(ready[report.Task].Pid, report.Pid);
        }

        if (shape == TreeShape.Binary)
        {
            Assert.Equal("1", ready[3].Fields["parent_task"]);
            Assert.Equal("1", ready[4].Fields["parent_task"]);
        }
    }

    [SkippableFact]
    public async Task Task_times_are_on_the_harness_clock()
    {
        Skip.If(CriuHelpers.MissingReason() is not null, CriuHelpers.MissingReason());
        long before = MonotonicClock.NowNs();

        var (_, _, reports) = await RunAsync(new TreeWorkload(1, 1, WorkloadTouch.Seq));

        var report = Assert.Single(reports);
        Assert.Equal(0, report.TimensOffsetNs);
        Assert.InRange(report.TriggerMonoNs, before, MonotonicClock.NowNs());
        Assert.InRange(report.VerifiedMonoNs, report.TriggerMonoNs, MonotonicClock.NowNs());
    }

    [SkippableFact]
    public async Task The_python_program_answers_the_same_after_the_trigger()
    {
        Skip.If(CriuHelpers.MissingReason() is not null, CriuHelpers.MissingReason());
        var (python, problem) = await PythonWorkload.LocateAsync();
        Skip.If(python is null, problem);
        var workload = new PythonWorkload(python!, MiB: 4, Entries: 20_000);

        var (outcome, ready, reports) = await RunAsync(workload);

        Assert.Equal(0, outcome.ExitCode);
        var report = Assert.Single(reports);
        Assert.Null(workload.Problem(ready[0], report));
        Assert.Equal(ready[0].Fields["expected"], report.Answer);
        Assert.Equal(4L << 20, report.BytesVerified);
        Assert.NotNull(workload.Problem(ready[0], report with { Answer = "0:0" }));
        // Its own account of trigger -> answer: CPU (hashing 4 MiB and folding 20,000 entries takes some), run delay and
        // minor faults, none of them more than the wall time between its two stamps.
        long wall = report.VerifiedMonoNs - report.TriggerMonoNs;
        Assert.InRange(report.CpuNs ?? -1, 1, wall);
        Assert.InRange(report.RunDelayNs ?? -1, 0, wall);
        Assert.True(report.MinorFaults >= 0, $"minor faults {report.MinorFaults}");
    }

    private async Task<(ReaperOutcome Outcome, IReadOnlyList<WorkloadReady> Ready, IReadOnlyList<WorkloadTaskReport> Reports)> RunAsync(CriuWorkload workload)
    {
        var workloadDir = _dir.CreateSub("wl");
        using var step = ReapedProcess.Start(new ReapedProcessOptions
        {
            Argv = workload.Command(workloadDir),
            LogPath = Path.Combine(workloadDir, "workload.log"),
            Deadline = Bound,
            WorkingDirectory = workloadDir,
            NewSession = true,
        });
        var ready = new WorkloadReady[workload.TaskCount];
        var deadline = DateTime.UtcNow + Bound;
        for (int task = 0; task < ready.Length; task++)
        {
            var path = Path.Combine(workloadDir, $"ready-{task}");
            while (!File.Exists(path))
            {
                Assert.True(DateTime.UtcNow < deadline, $"task {task} not ready; log: {step.LogTail()}");
                Assert.False(step.Completion.IsCompleted, $"the workload ended early; log: {step.LogTail()}");
                await Task.Delay(10);
            }

            ready[task] = WorkloadReady.Parse(await File.ReadAllTextAsync(path), path);
        }

        Assert.Empty(Directory.EnumerateFiles(workloadDir, "result-*"));
        Assert.Equal(await step.MainPid.WaitAsync(Bound), ready[0].Pid);
        Assert.Equal(0, Engine.Interop.Libc.Kill(ready[0].Pid, 10));
        var outcome = await step.Completion.WaitAsync(Bound);
        var reports = Enumerable.Range(0, workload.TaskCount)
            .Select(t => Path.Combine(workloadDir, $"result-{t}.json"))
            .Select(p => WorkloadTaskReport.Parse(File.ReadAllText(p), p))
            .ToList();
        return (outcome, ready, reports);
    }
}
