using LazyActors.Engine.Restorer;

namespace LazyActors.Tools.Bench;

/// <summary>
/// One run of one scenario: starts a fresh daemon on the scenario's checkpoint in a fresh work dir, waits for its
/// readiness byte, runs the restore simulator in a fresh process, then waits (bounded) for the daemon to exit by
/// itself and reaps it for its peak RSS and CPU time.
/// </summary>
internal sealed class ScenarioRunner(DaemonUnderTest daemon, BenchOptions options)
{
    private const int LogTailChars = 400;

    /// <summary>Runs <paramref name="scenario"/> once on the checkpoint in <paramref name="imagesDir"/>; the simulator gets <paramref name="restoreTimeout"/>.</summary>
    public ScenarioRun RunOnce(BenchScenario scenario, string imagesDir, string workDir, string logPath, TimeSpan restoreTimeout)
    {
        if (!scenario.FromPageServer)
        {
            return RunOnce(scenario, imagesDir, workDir, logPath, restoreTimeout, []);
        }

        // The source: our page-server over the same images, on a free loopback port; stopped with SIGTERM afterwards. It
        // runs as deployed too (the published host, when the bench has one): the IL build would JIT Akka's remoting
        // during the restore (a fifth of the Akka source's CPU under load), which measures the JIT, not the transport.
        Directory.CreateDirectory(workDir);
        string[] transport = scenario.AkkaTransport ? ["--transport", "akka"] : [];
        var port = FreeLoopbackPort();
        var portText = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        DaemonProcess source;
        try
        {
            source = DaemonProcess.Start([.. options.OwnHostPrefix ?? Host.HostInvocation.Prefix(), "page-server"], imagesDir, workDir, ["--address", "127.0.0.1", "--port", portText, "--lazy-pages", .. transport], logPath + ".source");
        }
        catch (InvalidOperationException ex)
        {
            return ScenarioRun.Failed($"the page server could not be started: {ex.Message}");
        }

        using (source)
        {
            if (source.WaitReady(options.ReadyTimeout, out var problem) is null)
            {
                return ScenarioRun.Failed($"the page server did not listen: {problem}; {source.LogTail(LogTailChars)}");
            }

            var run = RunOnce(scenario, imagesDir, workDir, logPath, restoreTimeout, ["--page-server", "--address", "127.0.0.1", "--port", portText, .. transport]);
            source.Signal(15);
            var exit = source.WaitForExit(options.ExitTimeout);
            return exit.Clean
                ? run
                : run with { Notes = [.. run.Notes, $"the page server ended badly: {exit}; {source.LogTail(LogTailChars)}"] };
        }
    }

    private static int FreeLoopbackPort()
    {
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        return ((System.Net.IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private ScenarioRun RunOnce(BenchScenario scenario, string imagesDir, string workDir, string logPath, TimeSpan restoreTimeout, IReadOnlyList<string> remote)
    {
        Directory.CreateDirectory(workDir);
        var notes = new List<string>();
        string[] extra = [.. scenario.NoBackground ? [BenchScenarios.NoBackgroundFlag] : Array.Empty<string>(), .. remote];
        DaemonProcess process;
        try
        {
            process = DaemonProcess.Start(daemon.Template, imagesDir, workDir, extra, logPath);
        }
        catch (InvalidOperationException ex)
        {
            return ScenarioRun.Failed($"daemon could not be started: {ex.Message}");
        }

        using (process)
        {
            var readyMs = process.WaitReady(options.ReadyTimeout, out var problem);
            if (readyMs is null)
            {
                var exit = process.WaitForExit(TimeSpan.FromSeconds(2));
                return ScenarioRun.Failed($"daemon `{CommandTemplate.Join(process.Argv)}` did not become ready: {problem} ({exit}); log {process.LogPath} ends: {process.LogTail(LogTailChars)}");
            }

            if (problem is not null)
            {
                notes.Add(problem);
            }

            if (!File.Exists(Path.Combine(workDir, LazyPagesHandshake.SocketName)))
            {
                notes.Add($"readiness signalled but {LazyPagesHandshake.SocketName} is not in {workDir}");
            }

            var report = RestoreSimProcess.Run(imagesDir, workDir, scenario.Touch, restoreTimeout < TimeSpan.FromSeconds(5) ? TimeSpan.FromSeconds(5) : restoreTimeout, out var simError);
            var daemonExit = process.WaitForExit(options.ExitTimeout);
            if (daemonExit.KilledByBench)
            {
                notes.Add($"daemon still running {options.ExitTimeout.TotalSeconds:0} s after the restore ended: killed (SIGKILL) and reaped; RSS/CPU cover its life until then");
            }

            if (report is null)
            {
                return ScenarioRun.Failed($"{simError}; daemon: {daemonExit}; log: {process.LogTail(LogTailChars)}", notes);
            }

            var run = ScenarioRun.FromSimReport(report, readyMs.Value, daemonExit, notes);
            if (!run.Ok)
            {
                return run with { Error = $"{run.Error}; daemon log: {process.LogTail(LogTailChars)}" };
            }

            // The same touches on memory already present, no daemon: what the machine's scheduler alone costs.
            var floor = SchedulerFloorProbe.Measure(scenario, restoreTimeout < TimeSpan.FromSeconds(10) ? TimeSpan.FromSeconds(10) : restoreTimeout);
            if (floor.Error is not null)
            {
                notes.Add(floor.Error);
            }

            return run with { FloorTouchMaxUs = floor.MaxUs };
        }
    }
}
