using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Ranges;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.EndToEnd;

/// <summary>
/// Findings of issue 12's probe, replayed on real processes, real userfaultfds and the whole engine: a task that dies
/// while pages are still pending, and lazy entries that cross VMA boundaries. Success must mean every byte right.
/// </summary>
public sealed class ReliabilityEndToEndTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(60);
    private readonly ScratchDirectory _work = new();

    public void Dispose() => _work.Dispose();

    /// <summary>
    /// A task dies with pages still pending and background transfer off: the kernel sends no exit event and nothing is
    /// copied any more, so only the liveness probe can tell. The engine ends by itself with exit 0 (an exited task needs
    /// no pages), the dead task exited, the other one complete with every byte verified.
    /// </summary>
    [SkippableTheory]
    [InlineData(SimScenario.Kill)]
    [InlineData(SimScenario.Exit)]
    public async Task A_task_that_dies_mid_restore_with_faults_only_ends_the_restore(SimScenario scenario)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var images = _work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 4L << 20, 0xDEAD));
        var settings = Settings(images) with { BackgroundPush = false, LivenessProbeInterval = TimeSpan.FromMilliseconds(300) };

        var (report, result) = await RunAsync(settings, new RestoreSimOptions { ImagesDir = images, WorkDir = _work.Path, Touch = TouchOrder.Seq, Scenario = scenario, Timeout = TimeLimit });

        Assert.True(result.Succeeded, $"engine exit {result.ExitCode}: {result.Error}");
        Assert.True(report.Ok, report.Error);
        var dead = Assert.Single(result.Statistics.Tasks, t => t.Phase == TaskPhase.Exited);
        Assert.Contains("liveness probe", dead.Reason);
        Assert.True(dead.CopiedPages < dead.TotalPages, "the dead task had pages left, or there was nothing to prove");
        var live = Assert.Single(result.Statistics.Tasks, t => t.Phase == TaskPhase.Complete);
        Assert.Contains(report.Tasks, t => t.Pid == live.Pid && t.BytesVerified > 0 && t.Mismatches == 0);
    }

    /// <summary>
    /// One PE_LAZY entry of 20 pages over two adjacent anonymous VMAs (13 + 7 pages, the second read-only, as a real
    /// dump has them): pending ranges are contiguous there, but no UFFDIO_COPY may cross the VMA boundary (the kernel
    /// answers ENOENT and copies nothing). Every page must arrive, by faults and by background transfer.
    /// </summary>
    [SkippableTheory]
    [InlineData(true, TouchOrder.Rand)]
    [InlineData(false, TouchOrder.Seq)]
    public async Task A_lazy_entry_spanning_two_vmas_is_served_every_page(bool backgroundPush, TouchOrder touch)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var images = _work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(1, 1L << 20, 0x5EA));
        const ulong a = 0x5500_0000_0000;
        const ulong page = PageGeometry.PageSize;
        CraftedMemory.Write(images, SyntheticCheckpoint.FirstPid,
            [new(a, a + (13 * page)), new(a + (13 * page), a + (20 * page), Prot: 1), new(a + (32 * page), a + (96 * page))],
            [new(a, 20), new(a + (32 * page), 40), new(a + (72 * page), 16)]); // 8 pages of the last VMA never dumped: zero pages
        var settings = Settings(images) with { BackgroundPush = backgroundPush };

        var (report, result) = await RunAsync(settings, new RestoreSimOptions { ImagesDir = images, WorkDir = _work.Path, Touch = touch, Timeout = TimeLimit });

        Assert.True(report.Ok, $"simulation failed: {report.Error} {string.Join("; ", report.Tasks.Select(t => $"{t.Pid}: {t.Error} mismatches={t.Mismatches} first={t.FirstMismatch}"))}");
        Assert.True(result.Succeeded, $"engine exit {result.ExitCode}: {result.Error}");
        var task = Assert.Single(result.Statistics.Tasks);
        Assert.Equal((TaskPhase.Complete, 76L, 0L, 0L), (task.Phase, task.CopiedPages, task.DroppedPages, task.LostPages));
        Assert.Equal(84 * (long)page, Assert.Single(report.Tasks).BytesVerified);
    }

    private EngineSettings Settings(string images) =>
        EngineSettings.Create(images, _work.Path) with { AcceptTimeout = TimeLimit, HandshakeTimeout = TimeLimit };

    private async Task<(SimReport Report, EngineResult Result)> RunAsync(EngineSettings settings, RestoreSimOptions sim)
    {
        using var engine = LazyPagesEngine.Listen(settings);
        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(ConfigurationFactory.ParseString("akka.loglevel = INFO"), null, null, stop.Token);
        var report = await Task.Run(() => new RestoreSimulator(sim with { Progress = output.WriteLine }).Run());
        if (await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))) != run)
        {
            await stop.CancelAsync();
            await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(15)));
        }

        var result = run.IsCompleted ? await run : new EngineResult(1, "the engine did not stop within 30 s of the restore", engine.Statistics, TimeSpan.Zero);
        SimulatorTestSupport.WriteTasks(output, report);
        foreach (var t in result.Statistics.Tasks)
        {
            output.WriteLine($"engine {t.Label}: {t.Phase} {t.CopiedPages}/{t.TotalPages} copied, {t.Faults} faults, {t.ZeroPages} zero, {t.DroppedPages} dropped, {t.LostPages} lost {t.Reason}");
        }

        output.WriteLine($"engine: exit {result.ExitCode} {result.Error} after {result.Elapsed.TotalMilliseconds:0} ms");
        return (report, result);
    }
}
