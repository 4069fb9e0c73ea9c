using System.Diagnostics;
using System.Globalization;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.CrashSafety;
using LazyActors.Engine.Interop;

namespace LazyActors.Host.CrashSafety;

/// <summary>
/// Starts the guardian of a one-shot <c>lazy-pages</c> (the hidden <c>guardian</c> verb of this program) in a session
/// of its own, connected to the daemon by a SOCK_SEQPACKET pair, and returns the daemon's journal over it. The guardian
/// is a .NET process rather than a C helper so that it shares the journal's code, the range books and
/// <c>RestoredTree</c> with the daemon; it runs no actor system, a small workstation GC heap, and blocks on one socket.
/// </summary>
internal static class GuardianLauncher
{
    /// <summary>GC settings that keep the guardian small (it holds descriptors and a few kilobytes of journal).</summary>
    internal static readonly IReadOnlyDictionary<string, string> SmallFootprint = new Dictionary<string, string>
    {
        ["DOTNET_gcServer"] = "0",
        ["DOTNET_gcConcurrent"] = "0",
        ["DOTNET_GCgen0size"] = "0x100000",
        ["DOTNET_GCHeapHardLimit"] = "0x8000000",
        ["DOTNET_TieredPGO"] = "0",
    };

    /// <summary>The guardian's option naming the daemon's program (for its successors) when the guardian is <see cref="GuardianProgramName"/>.</summary>
    public const string DaemonProgramOption = "--daemon-program";

    /// <summary>
    /// The guardian as a program of its own, published beside the NativeAOT daemon (src/Guardian): the daemon's code that
    /// a guardian runs, trimmed whole. Started instead of the daemon's own program with its <c>guardian</c> verb, it does
    /// not re-expand the daemon's 48 MB program's data at start (~17 ms of the guardian's ~25 ms of CPU per restore, all
    /// counted as the daemon's: it reaps the guardian; docs/benchmarks.md, cpu61).
    /// </summary>
    public const string GuardianProgramName = "LazyActors.Guardian";

    /// <summary>
    /// How the guardian is started: <see cref="GuardianProgramName"/> and the daemon's program (for successors) when this
    /// is a native daemon with that program beside it; otherwise this program itself (<see cref="SelfInvocation.Prefix"/>)
    /// and no daemon program (the guardian verb starts its successors as itself). Null <paramref name="processPath"/>: as
    /// <see cref="Environment.ProcessPath"/>. <c>LAZYACTORS_GUARDIAN_SELF=1</c> in the daemon's environment makes a native
    /// daemon start itself as before (for comparing the two with one published directory).
    /// </summary>
    internal static (IReadOnlyList<string> Prefix, string? DaemonProgram) GuardianInvocation(string? processPath = null)
    {
        var daemon = processPath ?? Environment.ProcessPath;
        if (daemon is not null && Path.GetFileNameWithoutExtension(daemon) != "dotnet"
            && Path.GetDirectoryName(daemon) is { } directory && Path.Combine(directory, GuardianProgramName) is var program
            && File.Exists(program) && Environment.GetEnvironmentVariable("LAZYACTORS_GUARDIAN_SELF") != "1")
        {
            return ([program], daemon);
        }

        return (SelfInvocation.Prefix(), null);
    }

    /// <summary>Starts the guardian; returns the journal, the guardian's process (to be disposed at the end) and the file
    /// name of the program it runs (<see cref="GuardianProgramName"/>, or this program's).</summary>
    /// <param name="daemonArguments">The daemon's command line (verb first), for its successors.</param>
    /// <param name="settings">The engine settings (crash-safety, images and work directory).</param>
    /// <param name="pidFile">The pidfile to keep pointing at the live daemon (absolute), or null.</param>
    /// <param name="logFile">The daemon's log (absolute) or null; the guardian writes <c>LOG.guardian</c> beside it.</param>
    /// <param name="warn">Where the journal reports a lost guardian.</param>
    public static (CrashJournal Journal, Process Guardian, string Program) Start(IReadOnlyList<string> daemonArguments, EngineSettings settings, string? pidFile, string? logFile, Action<string> warn)
    {
        var (ours, theirs) = GuardianSocket.Pair();
        SafeFdHandle? inherited = null;
        try
        {
            inherited = GuardianSocket.DuplicateInheritable(theirs);
            theirs.Dispose();
            var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardOutput = false };
            start.ArgumentList.Add("-c");
            // A session of its own (a terminal's hangup or a kill of the daemon's group leaves it alone), stdin and stdout
            // on /dev/null; stderr stays the daemon's so a give-up is seen where the daemon's errors are.
            start.ArgumentList.Add("command -v setsid >/dev/null 2>&1 && exec setsid \"$@\" </dev/null >/dev/null; exec \"$@\" </dev/null >/dev/null");
            start.ArgumentList.Add("lazy-pages-guardian");
            var (prefix, daemonProgram) = GuardianInvocation();
            foreach (var part in prefix)
            {
                start.ArgumentList.Add(part);
            }

            var crash = settings.CrashSafety;
            foreach (var argument in new[]
            {
                "guardian", "--channel-fd", inherited.Fd.ToString(CultureInfo.InvariantCulture),
                "--daemon-pid", Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
                "--images-dir", settings.ImagesDirectory, "--work-dir", settings.WorkDirectory,
                "--restart-budget", crash.RestartBudget.ToString(CultureInfo.InvariantCulture),
                "--give-up-after", ((long)crash.GiveUpAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
                "--stop-signal", ((int)crash.StopSignal).ToString(CultureInfo.InvariantCulture),
            })
            {
                start.ArgumentList.Add(argument);
            }

            if (daemonProgram is not null)
            {
                start.ArgumentList.Add(DaemonProgramOption);
                start.ArgumentList.Add(daemonProgram);
            }

            if (pidFile is not null)
            {
                start.ArgumentList.Add("--pidfile");
                start.ArgumentList.Add(pidFile);
            }

            if (logFile is not null)
            {
                start.ArgumentList.Add("--log-file");
                start.ArgumentList.Add(logFile + ".guardian");
            }

            var lower = GuardianPriority.ShouldLower();
            if (lower)
            {
                start.ArgumentList.Add(GuardianPriority.StartedBelowNormalOption);
            }

            start.ArgumentList.Add("--");
            foreach (var argument in SelfInvocation.SuccessorArguments(daemonArguments))
            {
                start.ArgumentList.Add(argument);
            }

            foreach (var (name, value) in SmallFootprint)
            {
                start.Environment[name] = value;
            }

            var guardian = Process.Start(start) ?? throw new IOException("cannot start the guardian process");
            if (lower)
            {
                GuardianPriority.LowerForStartUp(guardian);
            }

            inherited.Dispose();
            return (new CrashJournal(ours, lastId: 0, warn), guardian, Path.GetFileName(prefix[^1]));
        }
        catch
        {
            inherited?.Dispose();
            theirs.Dispose();
            ours.Dispose();
            throw;
        }
    }
}
