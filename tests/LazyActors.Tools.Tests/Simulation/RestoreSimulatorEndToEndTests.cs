using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using LazyActors.Tools.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Simulation;

/// <summary>
/// The restore simulator on real processes and real userfaultfd, served by <see cref="MinimalLazyPagesHandler"/>
/// (not the engine): proves the simulator and the native layer end to end.
/// </summary>
public sealed class RestoreSimulatorEndToEndTests(ITestOutputHelper output)
{
    private static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(60);

    public static TheoryData<string> Fixtures => FixtureCatalog.All();

    [SkippableTheory]
    [MemberData(nameof(Fixtures))]
    public void Every_mappable_fixture_is_restored_and_verified_byte_for_byte(string fixture)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var images = FixtureCatalog.PathOf(fixture);
        SimulatorTestSupport.SkipIfLazyDataIsRemote(fixture, images);

        using var work = new ScratchDirectory();
        var report = RunAgainstHandler(images, work.Path, TouchOrder.Rand, threads: 2, out var handler);
        AssertVerified(report, handler);
        Assert.True(handler.PagesCopied > 0, "no page was served with data");
    }

    [SkippableTheory]
    [InlineData(TouchOrder.Rand)]
    [InlineData(TouchOrder.Seq)]
    public void A_synthetic_four_task_tree_of_64_MiB_each_is_restored_and_verified(TouchOrder order)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(4, 64L << 20, 0xC0DE));

        var report = RunAgainstHandler(images, work.Path, order, threads: 2, out var handler);

        AssertVerified(report, handler);
        Assert.Equal(4, report.Tasks.Count);
        Assert.All(report.Tasks, t => Assert.True(t.BytesVerified >= 60L << 20, $"task {t.Pid} verified only {t.BytesVerified} bytes"));
        Assert.True(handler.ZeroPages > 0, "the synthetic holes must be answered with zero pages");
    }

    [SkippableTheory]
    [InlineData(SimScenario.Mremap)]
    [InlineData(SimScenario.Madvise)]
    [InlineData(SimScenario.Munmap)]
    [InlineData(SimScenario.Exit)]
    [InlineData(SimScenario.Fork)]
    public void Event_scenarios_reach_the_handler_and_verify(SimScenario scenario)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        if (scenario == SimScenario.Fork)
        {
            Assert.Null(ForkHelper.UnavailableReason()); // the build of src/Tools puts the helper next to the tools assembly
        }

        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 4L << 20, 0xE7E7));

        var report = RunAgainstHandler(images, work.Path, TouchOrder.Seq, threads: 1, out var handler, scenario);

        AssertVerified(report, handler);
        switch (scenario)
        {
            case SimScenario.Fork:
                Assert.Equal(1, handler.Forks);
                Assert.Contains(report.Tasks, t => t.Role == "fork-child" && t.BytesVerified > 0);
                break;
            case SimScenario.Mremap:
                Assert.True(handler.Remaps >= 1, "no UFFD_EVENT_REMAP was seen");
                break;
            case SimScenario.Madvise:
                Assert.True(handler.Removes >= 1, "no UFFD_EVENT_REMOVE was seen");
                break;
            case SimScenario.Munmap:
                Assert.True(handler.Unmaps >= 1, "no UFFD_EVENT_UNMAP was seen");
                break;
            case SimScenario.Exit:
                Assert.Contains(report.Tasks, t => t.BytesVerified == 0 && t.Pages > 0);
                break;
        }
    }

    private SimReport RunAgainstHandler(string images, string workDir, TouchOrder order, int threads, out MinimalLazyPagesHandler handler, SimScenario scenario = SimScenario.None)
    {
        handler = new MinimalLazyPagesHandler(images, workDir, TimeLimit);
        using (handler)
        {
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
            SimulatorTestSupport.WriteTasks(output, report);

            output.WriteLine($"handler: copied {handler.PagesCopied}, zero {handler.ZeroPages}, errors: {string.Join("; ", handler.Errors)}");
            return report;
        }
    }

    private static void AssertVerified(SimReport report, MinimalLazyPagesHandler handler)
    {
        Assert.True(report.Ok, $"simulation failed: {report.Error} {string.Join("; ", report.Tasks.Where(t => !t.Ok).Select(t => $"{t.Pid}: {t.Error} mismatches={t.Mismatches} first={t.FirstMismatch}"))}");
        Assert.Empty(handler.Errors);
        Assert.True(handler.FinReceived, "the handler never received the restore-finished word");
        Assert.All(report.Tasks, t => Assert.Equal(0, t.Mismatches));
    }
}
