using Akka.Configuration;
using LazyActors.Engine.Actors.Remote;
using LazyActors.Engine.Configuration;
using Xunit;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>The reconnection delays both fetchers (page-server protocol and Akka transport) take from one schedule.</summary>
public sealed class ReconnectScheduleTests
{
    [Fact]
    public void Delays_double_from_the_minimum_up_to_the_maximum_and_start_again_once_the_source_serves()
    {
        var settings = EngineSettings.Create(ConfigurationFactory.ParseString(
            "lazy-actors.engine.remote { reconnect-backoff-min = 100ms, reconnect-backoff-max = 1s }"), "/images").Remote;
        var schedule = new ReconnectSchedule(settings);
        var delays = Enumerable.Range(0, 6).Select(_ => schedule.Next().TotalMilliseconds).ToList();
        Assert.Equal([100, 200, 400, 800, 1000, 1000], delays);
        schedule.Reset();
        Assert.Equal(TimeSpan.FromMilliseconds(100), schedule.Next());
    }
}
