using Akka.Actor;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Actors.WarmUp;
using LazyActors.Engine.Scheduling;
using LazyActors.Testing;
using Xunit;
using Xunit.Abstractions;
using static LazyActors.Engine.Tests.Actors.ActorSpecSupport;

namespace LazyActors.Engine.Tests.Actors;

public sealed class EngineWarmUpSpecs : Akka.TestKit.Xunit2.TestKit
{
    /// <summary>The engine waits 5 s for its warm-up; a warm-up that needs more than this is broken.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    public EngineWarmUpSpecs(ITestOutputHelper output)
        : base(Hocon, output: output)
    {
    }

    [SkippableFact]
    public async Task Warm_up_serves_real_faults_through_the_engines_own_epoll_reader()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var failures = new List<Exception>();
        using var hub = new EpollUffdHub(failures.Add, UffdScheduling.Unchanged);
        var done = await Sys.ActorOf(EngineWarmUp.Props(SpecSettings, hub)).Ask<EngineWarmUp.Done>(EngineWarmUp.Begin.Instance, Bound);

        Assert.True(done.NativePathServed, "the scratch userfaultfd's faults were not all served");
        var native = Assert.Single(done.Tasks, t => t.Label == EngineWarmUp.NativeLabel);
        Assert.Equal(TaskPhase.Complete, native.Phase);
        Assert.InRange(native.Faults, 1, native.TotalPages);
        Assert.Equal(native.TotalPages, native.CopiedByFaults); // no pusher: every page went through a real fault
        Assert.Equal(0, native.CopiedByPusher);
        AssertManagedPathRan(done);
        Assert.Empty(failures);
    }

    [Fact]
    public async Task Warm_up_without_the_real_hub_runs_the_managed_path_to_completion()
    {
        var done = await Sys.ActorOf(EngineWarmUp.Props(SpecSettings, null)).Ask<EngineWarmUp.Done>(EngineWarmUp.Begin.Instance, Bound);
        Assert.False(done.NativePathServed);
        Assert.DoesNotContain(done.Tasks, t => t.Label == EngineWarmUp.NativeLabel);
        AssertManagedPathRan(done);
    }

    [SkippableFact]
    public async Task Warm_up_without_stand_ins_runs_only_the_native_path()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var failures = new List<Exception>();
        using var hub = new EpollUffdHub(failures.Add, UffdScheduling.Unchanged);
        var done = await Sys.ActorOf(EngineWarmUp.Props(SpecSettings, hub, standIns: false)).Ask<EngineWarmUp.Done>(EngineWarmUp.Begin.Instance, Bound);

        Assert.True(done.NativePathServed, "the scratch userfaultfd's faults were not all served");
        var only = Assert.Single(done.Tasks);
        Assert.Equal(EngineWarmUp.NativeLabel, only.Label);
        Assert.Empty(failures);
    }

    [Fact]
    public async Task Warm_up_with_nothing_to_run_answers_at_once()
    {
        // No stand-ins and no real hub: nothing can run, and the engine must not wait its 5 s for the answer.
        var done = await Sys.ActorOf(EngineWarmUp.Props(SpecSettings, null, standIns: false)).Ask<EngineWarmUp.Done>(EngineWarmUp.Begin.Instance, Bound);

        Assert.Empty(done.Tasks);
        Assert.False(done.NativePathServed);
    }

    /// <summary>Both stand-in tasks (page cache and direct path) took their three faults (one outside the lazy range,
    /// a zero page), received the rest in background chunks and completed.</summary>
    private static void AssertManagedPathRan(EngineWarmUp.Done done)
    {
        var managed = done.Tasks.Where(t => t.Label != EngineWarmUp.NativeLabel).ToArray();
        Assert.Equal(["warm-up-cache", "warm-up-direct"], managed.Select(t => t.Label).Order());
        Assert.All(managed, t =>
        {
            Assert.Equal(TaskPhase.Complete, t.Phase);
            Assert.Equal(3, t.Faults);
            Assert.Equal(1, t.ZeroPages);
            Assert.Equal(t.TotalPages, t.CopiedPages);
            Assert.True(t.CopiedByFaults > 0, $"{t.Label}: no page copied for a fault");
            Assert.True(t.CopiedByPusher > 0, $"{t.Label}: no page copied in the background");
        });
    }
}
