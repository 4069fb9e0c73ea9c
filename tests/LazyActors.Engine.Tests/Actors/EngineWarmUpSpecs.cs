using Akka.Actor;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Actors.Internal;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Scheduling;
using LazyActors.Testing;
using Xunit;
using Xunit.Abstractions;
using static LazyActors.Engine.Tests.Actors.ActorSpecSupport;

namespace LazyActors.Engine.Tests.Actors;

public sealed class EngineWarmUpSpecs : Akka.TestKit.Xunit2.TestKit
{
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
        var warmUp = Sys.ActorOf(Props.Create(() => new EngineWarmUp(SpecSettings, hub)).WithDispatcher(EngineSettings.DispatcherId));
        var done = await warmUp.Ask<EngineWarmUp.Done>(EngineWarmUp.Begin.Instance, Bound);
        Assert.True(done.NativePathServed, "the scratch userfaultfd's faults were not all served");
        Assert.Empty(failures);
    }

    [Fact]
    public async Task Warm_up_without_the_real_hub_covers_the_managed_path_only()
    {
        var warmUp = Sys.ActorOf(Props.Create(() => new EngineWarmUp(SpecSettings, null)).WithDispatcher(EngineSettings.DispatcherId));
        var done = await warmUp.Ask<EngineWarmUp.Done>(EngineWarmUp.Begin.Instance, Bound);
        Assert.False(done.NativePathServed);
    }
}
