using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Scheduling;
using Xunit;

namespace LazyActors.Engine.Tests.Configuration;

public sealed class EngineSettingsTests
{
    [Fact]
    public void Reference_config_gives_the_documented_defaults()
    {
        var settings = EngineSettings.Create("/images");
        Assert.Equal("/images", settings.WorkDirectory);
        Assert.Null(settings.AcceptTimeout);
        Assert.Equal(512 << 10, settings.CopySliceBytes);
        Assert.Equal(64 << 10, settings.ChunkInitialBytes);
        Assert.Equal(4 << 20, settings.ChunkMaxBytes);
        Assert.Equal(TimeSpan.Zero, settings.BackgroundPushDelay);
        Assert.Equal("/images/lazy-pages.socket", settings.SocketPath);
    }

    [Fact]
    public void Hocon_overrides_fall_back_to_the_reference()
    {
        var config = ConfigurationFactory.ParseString("lazy-actors.engine { chunk-max = 1MiB, accept-timeout = 30s, chunks-in-flight-per-task = 3 }");
        var settings = EngineSettings.Create(config, "/images", "/work");
        Assert.Equal(1 << 20, settings.ChunkMaxBytes);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.AcceptTimeout);
        Assert.Equal(3, settings.ChunksInFlightPerTask);
        Assert.Equal(512 << 10, settings.CopySliceBytes);
        Assert.Equal("/work/lazy-pages.socket", settings.SocketPath);
    }

    [Fact]
    public void Scheduling_and_gc_defaults_and_overrides()
    {
        var defaults = EngineSettings.Create("/images");
        Assert.Equal(-10, defaults.EngineThreadsNice);
        Assert.Equal(new UffdScheduling(true, -10, GatePriority.Ceiling), defaults.UffdScheduling);
        Assert.Equal(128L << 20, defaults.NoGcBudgetBytes);

        var config = ConfigurationFactory.ParseString(
            "lazy-actors.engine { scheduling { engine-threads-nice = off, reader-realtime = off, reader-nice = -5, gate-priority = inherit }\n no-gc-budget = off }");
        var off = EngineSettings.Create(config, "/images");
        Assert.Null(off.EngineThreadsNice);
        Assert.Equal(new UffdScheduling(false, -5, GatePriority.Inherit), off.UffdScheduling);
        Assert.Null(off.NoGcBudgetBytes);
    }

    [Fact]
    public void Dispatcher_thread_count_zero_means_one_per_cpu_within_bounds()
    {
        const string path = "lazy-actors.engine.dispatcher.dedicated-thread-pool.thread-count";
        Assert.Equal(EngineSettings.DefaultDispatcherThreads, EngineSettings.ReferenceConfig.GetInt(path));
        Assert.InRange(EngineSettings.DefaultDispatcherThreads, 3, 9);
        Assert.Equal(EngineSettings.DefaultDispatcherThreads - 1, EngineSettings.Create("/images").EffectiveBackgroundTasksAtOnce);
        var explicitCount = ConfigurationFactory.ParseString($"{path} = 3").WithFallback(EngineSettings.ReferenceConfig);
        Assert.Equal(3, EngineSettings.ResolveDispatcherThreads(explicitCount).GetInt(path));
        var zero = ConfigurationFactory.ParseString($"{path} = 0").WithFallback(EngineSettings.ReferenceConfig);
        Assert.Equal(EngineSettings.DefaultDispatcherThreads, EngineSettings.ResolveDispatcherThreads(zero).GetInt(path));
    }

    [Theory]
    [InlineData("copy-slice = 1000")]
    [InlineData("chunk-initial = 8MiB")]
    [InlineData("chunks-in-flight-per-task = 0")]
    [InlineData("scheduling.reader-nice = -21")]
    [InlineData("scheduling.engine-threads-nice = 20")]
    [InlineData("scheduling.gate-priority = always")]
    public void Invalid_values_fail_fast_with_the_key(string line)
    {
        var config = ConfigurationFactory.ParseString($"lazy-actors.engine {{ {line} }}");
        var error = Assert.Throws<ConfigurationException>(() => EngineSettings.Create(config, "/images"));
        Assert.Contains("lazy-actors.engine", error.Message);
    }

    [Fact]
    public void The_engine_dispatcher_is_defined()
    {
        Assert.True(EngineSettings.ReferenceConfig.HasPath(EngineSettings.DispatcherId));
    }
}
