using System.Net;
using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.EndToEnd;

/// <summary>
/// The engine as the destination of a remote restore: its pages come from our lazy page server over loopback TCP, the
/// restore simulator plays <c>criu restore --lazy-pages</c> on real processes, every byte is verified.
/// </summary>
public sealed class RemoteEngineEndToEndTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [SkippableTheory]
    [InlineData(FaultConnectionMode.Auto, TouchOrder.Rand)]
    [InlineData(FaultConnectionMode.Off, TouchOrder.Rand)]
    [InlineData(FaultConnectionMode.Auto, TouchOrder.Seq)]
    public async Task Engine_restores_a_tree_from_our_page_server(FaultConnectionMode mode, TouchOrder order)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("rem");
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(4, 16L << 20, 0xC0DE));
        using var store = LazyPageStore.Open(images);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0));

        var settings = EngineSettings.Create(images, work.Path) with { AcceptTimeout = s_timeout, HandshakeTimeout = s_timeout };
        settings = settings with { Remote = settings.Remote with { FaultConnection = mode } };
        var (report, result) = Run(settings, PageServerEndpoint.Tcp("127.0.0.1", server.LocalEndPoint.Port), order);

        Assert.True(report.Ok, $"simulation failed: {report.Error}");
        Assert.True(result.Succeeded, $"engine exit {result.ExitCode}: {result.Error}");
        Assert.All(report.Tasks, t => Assert.Equal(0, t.Mismatches));
        Assert.All(result.Statistics.Tasks, t => Assert.Equal(t.TotalPages, t.CopiedPages));
        await server.StopAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, server.SessionsFailed);
        Assert.Equal(mode == FaultConnectionMode.Off ? 1 : 2, server.SessionsAccepted); // auto: bulk, and faults (checked with one GET)
    }

    private (SimReport Report, EngineResult Result) Run(EngineSettings settings, PageServerEndpoint endpoint, TouchOrder order)
    {
        using var engine = LazyPagesEngine.Listen(settings, endpoint);
        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(ConfigurationFactory.ParseString("akka.loglevel = INFO"), null, null, stop.Token);
        var report = new RestoreSimulator(new RestoreSimOptions
        {
            ImagesDir = settings.ImagesDirectory,
            WorkDir = settings.WorkDirectory,
            Touch = order,
            Threads = 2,
            Timeout = s_timeout,
            Progress = output.WriteLine,
        }).Run();
        if (!run.Wait(TimeSpan.FromSeconds(30)))
        {
            stop.Cancel();
            run.Wait(TimeSpan.FromSeconds(15));
        }

        var result = run.IsCompleted ? run.Result : new EngineResult(1, "the engine did not stop", engine.Statistics, TimeSpan.Zero);
        SimulatorTestSupport.WriteTasks(output, report);
        foreach (var t in result.Statistics.Tasks)
        {
            output.WriteLine($"engine {t.Label}: {t.Phase} {t.CopiedPages}/{t.TotalPages} copied, {t.Faults} faults, {t.ZeroPages} zero {t.Reason}");
        }

        output.WriteLine($"engine: exit {result.ExitCode} {result.Error} after {result.Elapsed.TotalMilliseconds:0} ms");
        return (report, result);
    }
}
