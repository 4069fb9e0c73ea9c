using Akka.Configuration;
using LazyActors.Engine.Configuration;
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

    [Theory]
    [InlineData("copy-slice = 1000")]
    [InlineData("chunk-initial = 8MiB")]
    [InlineData("chunks-in-flight-per-task = 0")]
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
