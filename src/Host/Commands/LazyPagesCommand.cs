using System.CommandLine;
using System.Diagnostics;
using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Restorer;
using LazyActors.Host.Logging;
using Serilog;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>lazy-pages -D IMAGES [-W WORKDIR] [-o LOG] [-v N] [--status-fd FD] [-d|--daemon] [--pidfile F] [--config FILE]</c>:
/// a drop-in for <c>criu lazy-pages</c> serving local images (spec §6).
/// </summary>
internal static class LazyPagesCommand
{
    private static readonly TimeSpan DaemonReadyTimeout = TimeSpan.FromSeconds(30);

    public static Command Create()
    {
        var images = new Option<string>("--images-dir", "-D") { Description = "Checkpoint images to serve.", Required = true };
        var workDir = new Option<string?>("--work-dir", "-W") { Description = "Directory of lazy-pages.socket, the log and the pidfile (default: the images dir)." };
        var log = new Option<string?>("--log-file", "-o") { Description = "Log file (relative to the work dir); default stderr." };
        var verbosity = new Option<int>("--verbosity", "-v") { Description = "CRIU log level 0-4 (default 2).", DefaultValueFactory = _ => 2 };
        var statusFd = new Option<int?>("--status-fd") { Description = "Write one \\0 byte to this descriptor once listening, then close it." };
        var daemon = new Option<bool>("--daemon", "-d") { Description = "Detach once listening (the parent exits 0)." };
        var pidFile = new Option<string?>("--pidfile") { Description = "With -d: write the daemon's pid here (relative to the work dir)." };
        var noBackground = new Option<bool>("--no-background") { Description = "Serve faults only: no background transfer of the remaining pages." };
        var config = new Option<string?>("--config") { Description = "HOCON overrides (default: config/lazy-actors.hocon next to the program, if present)." };

        var command = new Command("lazy-pages", "Serve lazy pages from local images to `criu restore --lazy-pages` (drop-in for `criu lazy-pages`).")
        {
            images, workDir, log, verbosity, statusFd, daemon, pidFile, noBackground, config,
        };
        command.SetAction(async (parse, _) =>
        {
            var imagesDir = Path.GetFullPath(parse.GetValue(images)!);
            var work = Path.GetFullPath(parse.GetValue(workDir) ?? imagesDir);
            if (parse.GetValue(daemon))
            {
                return Detach(parse.Tokens.Select(t => t.Value).ToArray(), work, parse.GetValue(pidFile));
            }

            var level = HostLogging.FromVerbosity(parse.GetValue(verbosity));
            var logFile = parse.GetValue(log) is { } l ? Path.Combine(work, l) : null;
            HostLogging.Configure(level, logFile);
            try
            {
                var hocon = HostConfiguration.Load(parse.GetValue(config));
                var settings = EngineSettings.Create(hocon, imagesDir, work);
                if (parse.GetValue(noBackground))
                {
                    settings = settings with { BackgroundPush = false };
                }

                using var engine = LazyPagesEngine.Listen(settings);
                Log.Information("listening on {Socket}", engine.SocketPath);
                if (parse.GetValue(statusFd) is { } fd)
                {
                    ReadinessSignal.WriteStatusByte(fd);
                }

                using var cancel = new CancellationTokenSource();
                ConsoleCancelEventHandler onCancel = (_, e) =>
                {
                    e.Cancel = true;
                    cancel.Cancel();
                };
                Console.CancelKeyPress += onCancel;
                try
                {
                    var akka = ConfigurationFactory.ParseString(HostLogging.AkkaHocon(level)).WithFallback(hocon);
                    var result = await engine.RunAsync(akka, null, null, cancel.Token).ConfigureAwait(false);
                    LogSummary(result);
                    if (!result.Succeeded)
                    {
                        await Console.Error.WriteLineAsync($"lazy-pages: {result.Error}").ConfigureAwait(false);
                    }

                    return result.ExitCode;
                }
                finally
                {
                    Console.CancelKeyPress -= onCancel;
                }
            }
            catch (Exception ex) when (ex is IOException or ConfigurationException or UnauthorizedAccessException or ArgumentException)
            {
                Log.Fatal("lazy-pages: {Error}", ex.Message);
                await Console.Error.WriteLineAsync($"lazy-pages: {ex.Message}").ConfigureAwait(false);
                return 1;
            }
            finally
            {
                await Log.CloseAndFlushAsync().ConfigureAwait(false);
            }
        });
        return command;
    }

    private static void LogSummary(EngineResult result)
    {
        foreach (var task in result.Statistics.Tasks)
        {
            Log.Information("{Label}: {Phase}, copied {Copied}/{Total} pages ({Faults} faults, {Zero} zero pages, {Dropped} dropped)",
                task.Label, task.Phase, task.CopiedPages, task.TotalPages, task.Faults, task.ZeroPages, task.DroppedPages);
        }

        Log.Information("done in {Elapsed} ms with exit code {ExitCode}; GCs {Gen0}/{Gen1}/{Gen2} (gen0/1/2), GC pauses {GcPauseMs:0.0} ms in all, {AllocatedMiB:0.0} MiB allocated", (long)result.Elapsed.TotalMilliseconds, result.ExitCode, GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration().TotalMilliseconds, GC.GetTotalAllocatedBytes() / 1048576.0);
    }

    /// <summary>
    /// <c>-d</c>: .NET cannot fork, so the same program is started again (without -d/--pidfile) with an inherited pipe
    /// as its status fd; once the child listens it writes \0, this parent writes the pidfile and exits 0.
    /// </summary>
    private static int Detach(string[] tokens, string workDir, string? pidFile)
    {
        var childArgs = new List<string>();
        for (var i = 0; i < tokens.Length; i++)
        {
            var token = tokens[i];
            if (token is "-d" or "--daemon")
            {
                continue;
            }

            if (token is "--pidfile" or "--status-fd")
            {
                i++;
                continue;
            }

            childArgs.Add(token);
        }

        var (read, writeFd) = ReadinessSignal.CreateInheritablePipe();
        using (read)
        {
            // Like CRIU's daemon(): a new session, stdio on /dev/null (use -o for a log). The shell execs, so the pid
            // of the started process is the daemon's; the status pipe is inherited through the exec.
            var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("command -v setsid >/dev/null 2>&1 && exec setsid \"$@\" </dev/null >/dev/null 2>&1; exec \"$@\" </dev/null >/dev/null 2>&1");
            start.ArgumentList.Add("lazy-pages");
            start.ArgumentList.Add(Environment.ProcessPath!);
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
            {
                start.ArgumentList.Add(typeof(LazyPagesCommand).Assembly.Location);
            }

            foreach (var arg in childArgs)
            {
                start.ArgumentList.Add(arg);
            }

            start.ArgumentList.Add("--status-fd");
            start.ArgumentList.Add(writeFd.ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var child = Process.Start(start) ?? throw new IOException("cannot start the daemon process");
            ReadinessSignal.Close(writeFd);
            var value = ReadinessSignal.WaitForByte(read, DaemonReadyTimeout);
            if (value != 0)
            {
                Console.Error.WriteLine($"lazy-pages: the daemon (pid {child.Id}) did not become ready within {DaemonReadyTimeout.TotalSeconds:0} s");
                if (!child.HasExited)
                {
                    child.Kill();
                    child.WaitForExit(5000);
                }

                return 1;
            }

            if (pidFile is not null)
            {
                File.WriteAllText(Path.Combine(workDir, pidFile), child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
            }

            return 0;
        }
    }
}
