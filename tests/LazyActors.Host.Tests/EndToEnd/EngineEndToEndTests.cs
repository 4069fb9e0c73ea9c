using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Configuration;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.EndToEnd;

/// <summary>
/// The engine on real processes and real userfaultfd: the restore simulator plays <c>criu restore --lazy-pages</c>
/// against it and every task verifies its memory byte for byte.
/// </summary>
public sealed class EngineEndToEndTests(ITestOutputHelper output)
{
    private static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(60);

    public static TheoryData<string> Fixtures => FixtureCatalog.All();

    [SkippableTheory]
    [MemberData(nameof(Fixtures))]
    public async Task Engine_restores_every_mappable_fixture(string fixture)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var images = FixtureCatalog.PathOf(fixture);
        SimulatorTestSupport.SkipIfLazyDataIsRemote(fixture, images);

        using var work = new ScratchDirectory();
        var (report, result) = await RunAgainstEngineAsync(images, work.Path, TouchOrder.Rand, threads: 2);
        AssertVerified(report, result);
        Assert.All(result.Statistics.Tasks, t => Assert.Equal(TaskPhase.Complete, t.Phase));
    }

    [SkippableTheory]
    [InlineData(TouchOrder.Rand)]
    [InlineData(TouchOrder.Seq)]
    public async Task Engine_restores_a_synthetic_eight_task_tree(TouchOrder order)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(8, 8L << 20, 0xBEEF));

        var (report, result) = await RunAgainstEngineAsync(images, work.Path, order, threads: 1);

        AssertVerified(report, result);
        Assert.Equal(8, report.Tasks.Count);
        Assert.Equal(8, result.Statistics.Tasks.Count);
        Assert.All(result.Statistics.Tasks, t =>
        {
            Assert.Equal(TaskPhase.Complete, t.Phase);
            Assert.Equal(t.TotalPages, t.CopiedPages);
        });
    }

    [SkippableFact]
    public async Task Engine_serves_faults_and_zero_pages_while_background_transfer_waits()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 4L << 20, 0xFA17));

        var (report, result) = await RunAgainstEngineAsync(images, work.Path, TouchOrder.Rand, threads: 2, pushDelay: TimeSpan.FromSeconds(1));

        AssertVerified(report, result);
        Assert.All(result.Statistics.Tasks, t =>
        {
            Assert.Equal(TaskPhase.Complete, t.Phase);
            Assert.True(t.CopiedByFaults > 0, $"{t.Label}: no page was copied for a fault");
            Assert.True(t.ZeroPages > 0, $"{t.Label}: the synthetic holes must be answered with zero pages");
        });
    }

    /// <summary>
    /// A task that reads its memory in order faster than the push copies it (a thread of its own, nothing but first
    /// touches) catches the push front; following it, the push serves it with whole pieces: about one fault per piece
    /// the push copies (1 MiB), not several small fault copies per MiB, and every page right.
    /// </summary>
    [SkippableTheory]
    [InlineData(true, true)]
    [InlineData(false, true)]
    [InlineData(true, false)] // and on the engine's own dispatcher threads (no idle spin)
    public async Task Engine_follows_a_sequential_toucher_at_the_push_front(bool following, bool idleSpin)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        const long Bytes = 256L << 20;
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(1, Bytes, 0x5E0F));

        // The push starts a little after the toucher, so that the toucher meets it at its front (started together, the
        // push of a few hundred MiB is done before the simulated task touches its first page).
        var (report, result) = await RunAgainstEngineAsync(images, work.Path, TouchOrder.Seq, threads: 1, pushDelay: TimeSpan.FromMilliseconds(10),
            tune: s => s with { PushFrontFollowing = following, DispatcherIdleSpin = idleSpin });

        AssertVerified(report, result);
        var task = Assert.Single(result.Statistics.Tasks);
        Assert.Equal(TaskPhase.Complete, task.Phase);
        Assert.Equal(task.TotalPages, task.CopiedPages);
        output.WriteLine($"following {following}, idle spin {idleSpin}: {task.Faults} faults for {Bytes >> 20} MiB, {task.CopiedByFaults} pages copied for faults");
        if (following)
        {
            // At most one fault per 1 MiB piece once the push follows the toucher; before the push starts, faults claim up
            // to fault-read-ahead-max (256 KiB) each. Without following the chunks shrink to 256 KiB at the front and a
            // task that keeps up with the push faults about four times per MiB (docs/benchmarks.md, front31).
            Assert.True(task.Faults <= 2 * (Bytes >> 20), $"{task.Faults} faults for {Bytes >> 20} MiB read in order");
        }
    }

    /// <summary>With background transfer held back the events meet pending pages; with it at once they race the pusher's
    /// copies (which must never land between the read of an event and its handling).</summary>
    [SkippableTheory]
    [InlineData(SimScenario.Fork, true)]
    [InlineData(SimScenario.Mremap, true)]
    [InlineData(SimScenario.Madvise, true)]
    [InlineData(SimScenario.Munmap, true)]
    [InlineData(SimScenario.Exit, true)]
    [InlineData(SimScenario.Fork, false)]
    [InlineData(SimScenario.Mremap, false)]
    [InlineData(SimScenario.Madvise, false)]
    [InlineData(SimScenario.Munmap, false)]
    [InlineData(SimScenario.Exit, false)]
    public async Task Engine_handles_the_event_scenarios(SimScenario scenario, bool holdBackPusher)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        if (scenario == SimScenario.Fork)
        {
            Assert.Null(ForkHelper.UnavailableReason()); // the build of src/Tools puts the helper next to the tools assembly
        }

        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 4L << 20, 0xE7E7));

        var delay = holdBackPusher ? TimeSpan.FromSeconds(2) : TimeSpan.Zero;
        var (report, result) = await RunAgainstEngineAsync(images, work.Path, TouchOrder.Seq, threads: 1, scenario, delay);

        AssertVerified(report, result);
        if (!holdBackPusher)
        {
            return; // the pusher may finish before the scenario runs: only the bytes are checked
        }

        var tasks = result.Statistics.Tasks;
        switch (scenario)
        {
            case SimScenario.Fork:
                Assert.Contains(tasks, t => t.IsForkChild && t.Phase is TaskPhase.Complete or TaskPhase.Exited);
                Assert.Contains(report.Tasks, t => t.Role == "fork-child" && t.BytesVerified > 0);
                break;
            case SimScenario.Madvise:
            case SimScenario.Munmap:
                Assert.Contains(tasks, t => t.DroppedPages > 0);
                break;
            case SimScenario.Exit:
                Assert.Contains(tasks, t => t.Phase == TaskPhase.Exited);
                break;
            case SimScenario.Mremap:
                Assert.All(tasks, t => Assert.Equal(TaskPhase.Complete, t.Phase));
                break;
        }
    }

    private async Task<(SimReport Report, EngineResult Result)> RunAgainstEngineAsync(string images, string workDir, TouchOrder order, int threads, SimScenario scenario = SimScenario.None, TimeSpan pushDelay = default, Func<EngineSettings, EngineSettings>? tune = null)
    {
        var settings = EngineSettings.Create(images, workDir) with { AcceptTimeout = TimeLimit, HandshakeTimeout = TimeLimit, BackgroundPushDelay = pushDelay };
        settings = tune is null ? settings : tune(settings);
        using var engine = LazyPagesEngine.Listen(settings);
        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(ConfigurationFactory.ParseString("akka.loglevel = WARNING"), null, null, stop.Token);
        var report = new RestoreSimulator(new RestoreSimOptions
        {
            ImagesDir = images,
            WorkDir = workDir,
            Touch = order,
            Threads = threads,
            Scenario = scenario,
            Timeout = TimeLimit,
            Progress = output.WriteLine,
        }).Run();
        if (await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))) != run)
        {
            await stop.CancelAsync();
            await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(15)));
        }

        var result = run.IsCompleted ? await run : new EngineResult(1, "the engine did not stop", engine.Statistics, TimeSpan.Zero);
        SimulatorTestSupport.WriteTasks(output, report);

        foreach (var t in result.Statistics.Tasks)
        {
            output.WriteLine($"engine {t.Label}: {t.Phase} {t.CopiedPages}/{t.TotalPages} copied, {t.Faults} faults, {t.ZeroPages} zero, {t.DroppedPages} dropped {t.Reason}");
        }

        output.WriteLine($"engine: exit {result.ExitCode} {result.Error} after {result.Elapsed.TotalMilliseconds:0} ms");
        return (report, result);
    }

    private static void AssertVerified(SimReport report, EngineResult result)
    {
        Assert.True(report.Ok, $"simulation failed: {report.Error} {string.Join("; ", report.Tasks.Where(t => !t.Ok).Select(t => $"{t.Pid}: {t.Error} mismatches={t.Mismatches} first={t.FirstMismatch}"))}");
        Assert.True(result.Succeeded, $"engine exit {result.ExitCode}: {result.Error}");
        Assert.All(report.Tasks, t => Assert.Equal(0, t.Mismatches));
    }
}
