using System.Diagnostics;
using Akka.Configuration;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Tests.Images;
using LazyActors.Engine.Tests.Support;
using LazyActors.Host.Simulation;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Engine.Tests.EndToEnd;

/// <summary>
/// The engine on real processes and real userfaultfd: the restore simulator plays <c>criu restore --lazy-pages</c>
/// against it and every task verifies its memory byte for byte.
/// </summary>
public sealed class EngineEndToEndTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    public static TheoryData<string> Fixtures => FixtureCatalog.All();

    [SkippableTheory]
    [MemberData(nameof(Fixtures))]
    public void Engine_restores_every_mappable_fixture(string fixture)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var images = FixtureCatalog.PathOf(fixture);
        SimulatorTestSupport.SkipIfLazyDataIsRemote(fixture, images);

        using var work = new ScratchDirectory();
        var (report, result) = RunAgainstEngine(images, work.Path, TouchOrder.Rand, threads: 2);
        AssertVerified(report, result);
        Assert.All(result.Statistics.Tasks, t => Assert.Equal(TaskPhase.Complete, t.Phase));
    }

    [SkippableTheory]
    [InlineData(TouchOrder.Rand)]
    [InlineData(TouchOrder.Seq)]
    public void Engine_restores_a_synthetic_eight_task_tree(TouchOrder order)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(8, 8L << 20, 0xBEEF));

        var (report, result) = RunAgainstEngine(images, work.Path, order, threads: 1);

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
    public void Engine_serves_faults_and_zero_pages_while_background_transfer_waits()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 4L << 20, 0xFA17));

        var (report, result) = RunAgainstEngine(images, work.Path, TouchOrder.Rand, threads: 2, pushDelay: TimeSpan.FromSeconds(1));

        AssertVerified(report, result);
        Assert.All(result.Statistics.Tasks, t =>
        {
            Assert.Equal(TaskPhase.Complete, t.Phase);
            Assert.True(t.CopiedByFaults > 0, $"{t.Label}: no page was copied for a fault");
            Assert.True(t.ZeroPages > 0, $"{t.Label}: the synthetic holes must be answered with zero pages");
        });
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
    public void Engine_handles_the_event_scenarios(SimScenario scenario, bool holdBackPusher)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        Skip.If(scenario == SimScenario.Fork && ForkHelper.UnavailableReason() is not null, ForkHelper.UnavailableReason());
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 4L << 20, 0xE7E7));

        var delay = holdBackPusher ? TimeSpan.FromSeconds(2) : TimeSpan.Zero;
        var (report, result) = RunAgainstEngine(images, work.Path, TouchOrder.Seq, threads: 1, scenario, delay);

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

    [SkippableFact]
    public void Lazy_pages_verb_daemonizes_writes_its_pidfile_and_exits_after_the_restore()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 2L << 20, 0x1234));

        var clock = Stopwatch.StartNew();
        var (launcherExit, _, launcherErr) = HostProcess.Run(TimeSpan.FromSeconds(30),
            "lazy-pages", "-D", images, "-W", work.Path, "-d", "--pidfile", "lp.pid", "-o", "lp.log", "-v", "4");
        Assert.True(launcherExit == 0, $"the launcher exited with {launcherExit}: {launcherErr}");

        output.WriteLine($"listening after {clock.ElapsedMilliseconds} ms");
        var pid = int.Parse(File.ReadAllText(Path.Combine(work.Path, "lp.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        using var daemon = Process.GetProcessById(pid);
        try
        {
            Assert.True(File.Exists(Path.Combine(work.Path, Engine.Uffd.LazyPagesHandshake.SocketName)));
            if (File.Exists("/usr/bin/setsid") || File.Exists("/bin/setsid"))
            {
                Assert.NotEqual(SessionOf("self"), SessionOf(pid.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            var report = new RestoreSimulator(new RestoreSimOptions { ImagesDir = images, WorkDir = work.Path, Timeout = s_timeout, Progress = output.WriteLine }).Run();
            Assert.True(report.Ok, report.Error);
            Assert.True(daemon.WaitForExit(30_000), "the daemon did not exit once every task was complete");
            var log = File.ReadAllText(Path.Combine(work.Path, "lp.log"));
            output.WriteLine(log);
            Assert.Contains("every task is complete", log);
            Assert.Contains("UFFD transferred pages", log);
        }
        finally
        {
            if (!daemon.HasExited)
            {
                daemon.Kill();
                daemon.WaitForExit(5000);
            }
        }
    }

    [SkippableFact]
    public void Demo_verb_restores_a_small_tree_and_prints_the_summary()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var (exitCode, stdout, stderr) = HostProcess.Run(TimeSpan.FromSeconds(90), "demo", "--tasks", "2", "--mib", "4", "--timeout", "60");

        output.WriteLine(stdout);
        output.WriteLine(stderr);
        Assert.Equal(0, exitCode);
        Assert.Contains("demo: OK, every byte verified", stdout);
        Assert.Contains("first touch: p50", stdout);
        Assert.Contains("mismatches 0", stdout);
    }

    /// <summary>Session id (field 6 of /proc/PID/stat; the command name may contain spaces, so split after its ')').</summary>
    private static string SessionOf(string pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[3];
    }

    private (SimReport Report, EngineResult Result) RunAgainstEngine(string images, string workDir, TouchOrder order, int threads, SimScenario scenario = SimScenario.None, TimeSpan pushDelay = default)
    {
        var settings = EngineSettings.Create(images, workDir) with { AcceptTimeout = s_timeout, HandshakeTimeout = s_timeout, BackgroundPushDelay = pushDelay };
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
