namespace LazyActors.Tools.Bench;

/// <summary>How the daemon under test ended, with its own resource usage from wait4.</summary>
/// <param name="ExitCode">Exit status when it exited normally, else null.</param>
/// <param name="Signal">Terminating signal when it was killed, else null.</param>
/// <param name="KilledByBench">True when the bench had to kill it because it did not exit in time.</param>
/// <param name="PeakRssMiB">ru_maxrss of the reaped daemon, MiB (includes file pages it mapped, e.g. mmapped images).</param>
/// <param name="CpuSeconds">User plus system CPU seconds of the reaped daemon.</param>
public sealed record DaemonExit(int? ExitCode, int? Signal, bool KilledByBench, double PeakRssMiB, double CpuSeconds)
{
    /// <summary>Peak anonymous RSS sampled from /proc/PID/status (the daemon's own memory), MiB; NaN if not sampled.</summary>
    public double PeakAnonRssMiB { get; init; } = double.NaN;

    /// <summary>True when the daemon exited by itself with status 0.</summary>
    public bool Clean => ExitCode == 0 && !KilledByBench;

    /// <summary>Decodes a wait status (exited: low 7 bits 0 and the code in bits 8–15; else the signal in the low 7 bits).</summary>
    public static (int? ExitCode, int? Signal) DecodeStatus(int status) =>
        (status & 0x7f) == 0 ? ((status >> 8) & 0xff, null) : (null, status & 0x7f);

    /// <inheritdoc />
    public override string ToString() =>
        (KilledByBench ? "killed by the bench after the exit timeout" : ExitCode is { } code ? $"exit {code}" : $"killed by signal {Signal}")
        + $", peak RSS {PeakRssMiB:0.0} MiB (anon {PeakAnonRssMiB:0.0}), CPU {CpuSeconds:0.00} s";
}
