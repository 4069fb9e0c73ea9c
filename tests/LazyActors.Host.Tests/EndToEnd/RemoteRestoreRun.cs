using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.EndToEnd;

/// <summary>
/// One remote restore in this process: the engine fetching from <paramref name="Endpoint"/>, the restore simulator on
/// real processes, both bounded; the report and the engine's result written to the test output.
/// </summary>
internal sealed record RemoteRestoreRun(EngineSettings Settings, PageServerEndpoint Endpoint, ITestOutputHelper Output)
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Settings for a remote restore of <paramref name="images"/> with short deadlines (tests).</summary>
    public static EngineSettings SettingsFor(string images, string workDir, FaultConnectionMode mode, TimeSpan? giveUpAfter = null)
    {
        var settings = EngineSettings.Create(images, workDir) with { AcceptTimeout = Timeout, HandshakeTimeout = Timeout };
        return settings with
        {
            Remote = settings.Remote with
            {
                FaultConnection = mode,
                ReplyTimeout = TimeSpan.FromSeconds(2), // short, yet long enough that a busy machine does not look like a stalled source
                ConnectTimeout = TimeSpan.FromSeconds(2),
                ReconnectBackoffMin = TimeSpan.FromMilliseconds(20),
                ReconnectBackoffMax = TimeSpan.FromMilliseconds(200),
                GiveUpAfter = giveUpAfter ?? TimeSpan.FromSeconds(20),
                CloseTimeout = TimeSpan.FromSeconds(2),
            },
        };
    }

    public async Task<(SimReport Report, EngineResult Result)> RunAsync(TouchOrder order = TouchOrder.Rand, int threads = 2)
    {
        using var engine = LazyPagesEngine.Listen(Settings, Endpoint);
        using var stop = new CancellationTokenSource();
        var run = engine.RunAsync(ConfigurationFactory.ParseString("akka.loglevel = INFO\nakka.stdout-loglevel = INFO"), null, null, stop.Token);
        var report = new RestoreSimulator(new RestoreSimOptions
        {
            ImagesDir = Settings.ImagesDirectory,
            WorkDir = Settings.WorkDirectory,
            Touch = order,
            Threads = threads,
            Timeout = Timeout,
            Progress = Output.WriteLine,
        }).Run();
        if (await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))) != run)
        {
            await stop.CancelAsync();
            await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(15)));
        }

        var result = run.IsCompleted ? await run : new EngineResult(1, "the engine did not stop", engine.Statistics, TimeSpan.Zero);
        SimulatorTestSupport.WriteTasks(Output, report);
        foreach (var t in result.Statistics.Tasks)
        {
            Output.WriteLine($"engine {t.Label}: {t.Phase} {t.CopiedPages}/{t.TotalPages} copied, {t.Faults} faults, {t.ZeroPages} zero {t.Reason}");
        }

        Output.WriteLine($"engine: exit {result.ExitCode} {result.Error} after {result.Elapsed.TotalMilliseconds:0} ms");
        return (report, result);
    }

    /// <summary>Every task verified every byte and the engine exited 0 with every page copied.</summary>
    public static void AssertRestored(SimReport report, EngineResult result)
    {
        Xunit.Assert.True(report.Ok, $"simulation failed: {report.Error} {string.Join("; ", report.Tasks.Where(t => !t.Ok).Select(t => $"{t.Pid}: {t.Error} mismatches={t.Mismatches}"))}");
        Xunit.Assert.True(result.Succeeded, $"engine exit {result.ExitCode}: {result.Error}");
        Xunit.Assert.All(report.Tasks, t => Xunit.Assert.Equal(0, t.Mismatches));
        Xunit.Assert.All(result.Statistics.Tasks, t => Xunit.Assert.Equal(t.TotalPages, t.CopiedPages));
    }
}
