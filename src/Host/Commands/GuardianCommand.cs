using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.CrashSafety;
using LazyActors.Engine.Interop;
using LazyActors.Host.CrashSafety;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>guardian</c> (hidden, started by <c>lazy-pages</c> itself): holds the restore's descriptors and journal outside the
/// daemon and replaces a daemon that dies (see <see cref="Guardian"/>). Exit 0 when the restore ended (by the daemon,
/// whatever its result), 1 after a give-up (the error is in <c>WORKDIR/lazy-pages.guardian.status</c>).
/// </summary>
internal static class GuardianCommand
{
    /// <summary>Written with the error when the guardian gives up.</summary>
    public const string StatusFileName = "lazy-pages.guardian.status";

    public static Command Create()
    {
        var channel = new Option<int>("--channel-fd") { Required = true };
        var daemonPid = new Option<int>("--daemon-pid") { Required = true };
        var images = new Option<string>("--images-dir") { Required = true };
        var work = new Option<string>("--work-dir") { Required = true };
        var budget = new Option<int>("--restart-budget") { Required = true };
        var giveUp = new Option<long>("--give-up-after") { Required = true, Description = "Milliseconds." };
        var signal = new Option<int>("--stop-signal") { Required = true };
        var pidFile = new Option<string?>("--pidfile");
        var logFile = new Option<string?>("--log-file");
        var startedBelowNormal = new Option<bool>(GuardianPriority.StartedBelowNormalOption) { Description = "The daemon lowered this guardian's priority for its start-up: return to normal once up." };
        var daemonProgram = new Option<string?>(GuardianLauncher.DaemonProgramOption) { Description = "The daemon's program, which a successor runs (default: this program): given when the guardian is a program of its own (LazyActors.Guardian)." };
        var daemonArguments = new Argument<string[]>("daemon-arguments") { Arity = ArgumentArity.OneOrMore };
        var command = new Command("guardian", "Internal: the crash guardian of a lazy-pages restore (started by lazy-pages).")
        {
            channel, daemonPid, images, work, budget, giveUp, signal, pidFile, logFile, startedBelowNormal, daemonProgram, daemonArguments,
        };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            var log = LogTo(parse.GetValue(logFile));
            var program = parse.GetValue(daemonProgram);
            log($"running as {Environment.ProcessPath ?? "?"}; a successor runs {program ?? "this program"}");
            if (parse.GetValue(startedBelowNormal))
            {
                log(GuardianPriority.RestoreNormal());
            }

            KeepAwayFromOomKiller(log);
            var settings = new CrashSafetySettings
            {
                Guardian = true,
                RestartBudget = parse.GetValue(budget),
                GiveUpAfter = TimeSpan.FromMilliseconds(parse.GetValue(giveUp)),
                StopSignal = (TreeStopSignal)parse.GetValue(signal),
            };
            var workDir = parse.GetValue(work)!;
            var options = new GuardianOptions(parse.GetValue(daemonPid), parse.GetValue(images)!, parse.GetValue(pidFile),
                Path.Combine(workDir, StatusFileName), settings, Path.Combine(workDir, DescribedCheckpoint.FileName));
            var arguments = parse.GetValue(daemonArguments)!;
            var guardian = new Guardian(options, fd => StartSuccessor(program, arguments, fd), log, error => Console.Error.WriteLine($"lazy-pages: {error}"));
            return guardian.Run(new SafeFdHandle(parse.GetValue(channel), ownsHandle: true));
        });
        return command;
    }

    /// <summary>A successor: the daemon's own command line plus <c>--resume-fd</c>, in the guardian's session, with the
    /// daemon's GC settings (not the guardian's). <paramref name="daemonProgram"/>: the daemon's native program when the
    /// guardian runs as a program of its own; null = this program (the daemon's own, started with the guardian verb).</summary>
    private static (int Pid, Func<TimeSpan, bool> WaitForExit) StartSuccessor(string? daemonProgram, IReadOnlyList<string> arguments, int channelFd)
    {
        var prefix = daemonProgram is null ? SelfInvocation.Prefix() : [daemonProgram];
        var start = new ProcessStartInfo(prefix[0]) { UseShellExecute = false };
        foreach (var part in prefix.Skip(1).Concat(arguments))
        {
            start.ArgumentList.Add(part);
        }

        start.ArgumentList.Add("--resume-fd");
        start.ArgumentList.Add(channelFd.ToString(CultureInfo.InvariantCulture));
        foreach (var name in GuardianLauncher.SmallFootprint.Keys)
        {
            start.Environment.Remove(name);
        }

        var process = Process.Start(start) ?? throw new IOException("cannot start a successor daemon");
        bool WaitForExit(TimeSpan timeout)
        {
            var exited = process.WaitForExit(timeout);
            if (exited)
            {
                process.Dispose();
            }

            return exited;
        }

        return (process.Id, WaitForExit);
    }

    /// <summary>The OOM killer should take the daemon (which can be replaced) before the guardian (which cannot).</summary>
    private static void KeepAwayFromOomKiller(Action<string> log)
    {
        try
        {
            File.WriteAllText("/proc/self/oom_score_adj", "-1000");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            log($"oom_score_adj stays as it was ({ex.Message}): without CAP_SYS_RESOURCE the guardian cannot be exempted from the OOM killer");
        }
    }

    private static Action<string> LogTo(string? file) => message =>
    {
        // Only into its own log: its stderr is the daemon's, which callers may read for the daemon's one error line.
        var line = $"{DateTime.UtcNow:yyyy-MM-dd HH:mm:ss.fff} guardian[{Environment.ProcessId}]: {message}";
        if (file is not null)
        {
            try
            {
                File.AppendAllText(file, line + Environment.NewLine);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A log that cannot be written is no reason to let the restore go; say so where errors go.
                Console.Error.WriteLine($"lazy-pages guardian: cannot write {file}: {ex.Message}");
            }
        }
    };
}
