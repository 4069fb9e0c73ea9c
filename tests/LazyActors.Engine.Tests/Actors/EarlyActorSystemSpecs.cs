using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>
/// <c>LazyPagesEngine.Listen(settings, pageServer, akkaConfig)</c> builds the actor
/// system while the checkpoint is opened: the restore is served by it, and every way out ends it.
/// </summary>
public sealed class EarlyActorSystemSpecs : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly Config Quiet = ConfigurationFactory.ParseString("akka.loglevel = WARNING");
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private EngineSettings Settings() => EngineSettings.Create(_dir.Path) with
    {
        AcceptTimeout = TimeSpan.FromSeconds(20),
        HandshakeTimeout = TimeSpan.FromSeconds(20),
    };

    [Fact]
    public async Task A_restore_is_served_by_the_system_built_while_listening()
    {
        SyntheticCheckpoint.Write(_dir.Path, new SyntheticCheckpointOptions(1, 1 << 20, 7));
        var hub = new FakeUffdHub();
        using var engine = LazyPagesEngine.Listen(Settings(), null, Quiet);
        var run = engine.RunAsync(null, _ => hub, null, CancellationToken.None);
        using (var restorer = new RestorerPlayer(engine.SocketPath))
        {
            restorer.SendTask(SyntheticCheckpoint.FirstPid);
            restorer.SendFinished();
        }

        var result = await run.WaitAsync(Bound);

        Assert.Equal(0, result.ExitCode);
        Assert.All(result.Statistics.Tasks, t => Assert.Equal(t.TotalPages, t.CopiedPages));
    }

    [Fact]
    public async Task The_stand_ins_warm_up_runs_before_the_restorer_connects()
    {
        SyntheticCheckpoint.Write(_dir.Path, new SyntheticCheckpointOptions(1, 1 << 20, 7));
        var hub = new FakeUffdHub();
        using var engine = LazyPagesEngine.Listen(Settings(), null, Quiet);

        // Nobody connected and RunAsync has not even been called: the early warm-up still completes (the start-up trace
        // keeps the first time a step happened in this process, so wait for it rather than for this engine's run).
        var deadline = DateTime.UtcNow + Bound;
        while (LazyActors.Engine.Diagnostics.StartupTrace.TimestampOf(LazyActors.Engine.Diagnostics.StartupStep.EarlyWarmUpDone) is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.NotNull(LazyActors.Engine.Diagnostics.StartupTrace.TimestampOf(LazyActors.Engine.Diagnostics.StartupStep.EarlyWarmUpDone));
        var run = engine.RunAsync(null, _ => hub, null, CancellationToken.None);
        using (var restorer = new RestorerPlayer(engine.SocketPath))
        {
            restorer.SendTask(SyntheticCheckpoint.FirstPid);
            restorer.SendFinished();
        }

        var result = await run.WaitAsync(Bound);
        Assert.Equal(0, result.ExitCode);
    }

    [Fact]
    public async Task A_second_configuration_for_the_run_is_refused()
    {
        SyntheticCheckpoint.Write(_dir.Path, new SyntheticCheckpointOptions(1, 1 << 20, 7));
        using var engine = LazyPagesEngine.Listen(Settings(), null, Quiet);

        await Assert.ThrowsAsync<ArgumentException>(() => engine.RunAsync(Quiet, null, null, CancellationToken.None));
    }

    [Fact]
    public void Images_that_cannot_be_served_fail_listen_and_nothing_is_left_listening()
    {
        File.WriteAllText(Path.Combine(_dir.Path, "inventory.img"), "not an image");

        Assert.ThrowsAny<ImageFormatException>(() => LazyPagesEngine.Listen(Settings(), null, Quiet));
        Assert.False(File.Exists(Settings().SocketPath));
    }
}
