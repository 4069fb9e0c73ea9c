using System.Globalization;

namespace LazyActors.Tools.Criu;

/// <summary>One process reaped by <c>la_reaper</c>, with its own resource usage from wait4.</summary>
/// <param name="Pid">The pid (in the harness's pid namespace).</param>
/// <param name="IsMain">True for the command the reaper started; false for a process reparented to it.</param>
/// <param name="ExitCode">Exit status when it exited, else null.</param>
/// <param name="Signal">Terminating signal when killed, else null.</param>
/// <param name="CpuSeconds">User plus system CPU seconds.</param>
/// <param name="MaxRssKiB">ru_maxrss, KiB.</param>
/// <param name="MonotonicNs">CLOCK_MONOTONIC when it was reaped, ns.</param>
public sealed record ReaperExit(int Pid, bool IsMain, int? ExitCode, int? Signal, double CpuSeconds, long MaxRssKiB, long MonotonicNs)
{
    /// <summary>True when it exited by itself with status 0.</summary>
    public bool Clean => ExitCode == 0;

    /// <summary>Parses an <c>exit pid=P main=M code=C signal=S utime_us=U stime_us=S maxrss_kib=K mono_ns=T</c> line.</summary>
    /// <exception cref="FormatException">The line is not an exit line of the reaper.</exception>
    public static ReaperExit Parse(string line)
    {
        var fields = ReaperLine.Fields(line, "exit");
        int code = ReaperLine.Int(fields, "code", line);
        int signal = ReaperLine.Int(fields, "signal", line);
        return new ReaperExit(
            ReaperLine.Int(fields, "pid", line),
            ReaperLine.Int(fields, "main", line) == 1,
            code >= 0 && signal == 0 ? code : null,
            signal != 0 ? signal : null,
            (ReaperLine.Long(fields, "utime_us", line) + ReaperLine.Long(fields, "stime_us", line)) / 1e6,
            ReaperLine.Long(fields, "maxrss_kib", line),
            ReaperLine.Long(fields, "mono_ns", line));
    }

    /// <inheritdoc />
    public override string ToString() =>
        (ExitCode is { } code ? $"pid {Pid} exited {code}" : $"pid {Pid} killed by signal {Signal}")
        + string.Create(CultureInfo.InvariantCulture, $" (CPU {CpuSeconds:0.00} s, maxrss {MaxRssKiB / 1024.0:0.0} MiB)");
}
