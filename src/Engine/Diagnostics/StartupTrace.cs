using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace LazyActors.Engine.Diagnostics;

/// <summary>
/// When each step of a one-shot daemon's start-up first happened (<see cref="Stopwatch"/> ticks, CLOCK_MONOTONIC on
/// Linux), from <c>Main</c> to the first fault served: the restorer waits for exactly this path, and timestamps taken
/// inside the process show where the time goes far more steadily than wall-clock totals on a busy machine. Each step
/// keeps its first time only (a later restore in the same process leaves them alone); marking costs one compare-exchange.
/// </summary>
public static class StartupTrace
{
    private static readonly long[] Marks = new long[Enum.GetValues<StartupStep>().Length];
    private static readonly double[] JitMsAt = new double[Marks.Length];
    private static readonly double[] CpuMsAt = new double[Marks.Length];
    private static readonly System.Collections.Concurrent.ConcurrentQueue<string> Notes = new();

    /// <summary>Records <paramref name="step"/> now, unless it was recorded before, with the JIT's time so far (the
    /// part of start-up that ReadyToRun or warmer code would save).</summary>
    public static void Mark(StartupStep step)
    {
        if (Interlocked.CompareExchange(ref Marks[(int)step], Stopwatch.GetTimestamp(), 0) == 0)
        {
            JitMsAt[(int)step] = System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds;
            // The process's CPU so far (getrusage: every thread, ended ones included): the differences between steps
            // say what each phase of a restore cost, e.g. the start-up beside the restorer or the tear-down.
            CpuMsAt[(int)step] = Environment.CpuUsage.TotalTime.TotalMilliseconds;
        }
    }

    /// <summary>Adds a note to the end of <see cref="Describe"/>'s line (what the start-up's scheduling did, say).</summary>
    public static void Note(string note) => Notes.Enqueue(note);

    /// <summary>The time <paramref name="step"/> was first recorded, or null.</summary>
    public static long? TimestampOf(StartupStep step) => Volatile.Read(ref Marks[(int)step]) is var t && t != 0 ? t : null;

    /// <summary>
    /// One line: each recorded step in milliseconds after <see cref="StartupStep.Main"/> (or the earliest step), and the
    /// process's age at <c>Main</c> (runtime start-up; from /proc, so to the kernel's clock tick, 10 ms).
    /// </summary>
    public static string Describe()
    {
        var origin = TimestampOf(StartupStep.Main) ?? Marks.Where(t => t != 0).DefaultIfEmpty(0).Min();
        var text = new StringBuilder("start-up, ms after Main (JIT: ms compiling so far, all threads; CPU: the process's ms so far):");
        // By time: the remote path's steps run beside the local path's, so the enum's order is not the order they happened in.
        var marked = Enum.GetValues<StartupStep>().Where(s => TimestampOf(s) is not null).OrderBy(s => TimestampOf(s)!.Value);
        foreach (var step in marked)
        {
            text.Append(CultureInfo.InvariantCulture, $" {Name(step)} {Stopwatch.GetElapsedTime(origin, TimestampOf(step)!.Value).TotalMilliseconds:0.0} (JIT {Volatile.Read(ref JitMsAt[(int)step]):0}, CPU {Volatile.Read(ref CpuMsAt[(int)step]):0});");
        }

        if (ProcessAgeAtMainMs is { } age)
        {
            text.Append(CultureInfo.InvariantCulture, $" process started ~{age:0} ms before Main;");
        }

        text.Append(CultureInfo.InvariantCulture, $" CPU now {Environment.CpuUsage.TotalTime.TotalMilliseconds:0} ms");
        foreach (var note in Notes)
        {
            text.Append("; ").Append(note);
        }

        return text.ToString().TrimEnd(';');
    }

    /// <summary>The process's age when <see cref="StartupStep.Main"/> was marked (ms, to 10 ms), or null when unknown.</summary>
    public static double? ProcessAgeAtMainMs { get; private set; }

    /// <summary>Marks <see cref="StartupStep.Main"/> and notes how long the runtime took to get there.</summary>
    public static void MarkMain()
    {
        Mark(StartupStep.Main);
        ProcessAgeAtMainMs ??= ReadProcessAgeMs();
    }

    private static double? ReadProcessAgeMs()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var startTicks = double.Parse(fields[19], CultureInfo.InvariantCulture);
            var uptime = double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], CultureInfo.InvariantCulture);
            var ticksPerSecond = Math.Max(1, Interop.Libc.Sysconf(Interop.Libc.SC_CLK_TCK));
            return Math.Max(0, (uptime - (startTicks / ticksPerSecond)) * 1000);
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Name(StartupStep step) => step switch
    {
        StartupStep.Main => "main",
        StartupStep.SettingsRead => "settings read",
        StartupStep.CheckpointOpened => "checkpoint opened",
        StartupStep.Listening => "listening",
        StartupStep.ReadySignalled => "ready signalled",
        StartupStep.ActorSystemUp => "actor system up",
        StartupStep.EarlyWarmUpDone => "stand-ins warm",
        StartupStep.SourceReady => "source ready",
        StartupStep.NoGcRegionStarted => "no-GC region",
        StartupStep.RestorerAccepted => "restorer accepted",
        StartupStep.SupervisorStarted => "supervisor started",
        StartupStep.FirstUffd => "first uffd",
        StartupStep.FirstFaultServed => "first fault served",
        StartupStep.RestoreFinished => "restore finished",
        StartupStep.AllComplete => "all complete",
        StartupStep.TornDown => "torn down",
        StartupStep.SourceConnectStarted => "source connect started",
        StartupStep.SourceConnected => "source connected",
        StartupStep.SourceLinksReady => "source links ready",
        StartupStep.FetcherServing => "fetcher serving",
        StartupStep.FirstRequestSent => "first GET sent",
        StartupStep.FirstReplyReceived => "first reply",
        _ => step.ToString(),
    };
}
