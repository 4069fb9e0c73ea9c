using System.Text.Json.Serialization;
using LazyActors.Engine.Ranges;
using LazyActors.Tools.Simulation;

namespace LazyActors.Tools.Bench;

/// <summary>The figures of one run of one scenario (fresh daemon, fresh simulated tasks).</summary>
public sealed record ScenarioRun
{
    /// <summary>True when the restore completed, every byte verified and the daemon exited 0 by itself.</summary>
    [JsonPropertyName("ok")]
    public bool Ok { get; init; }

    /// <summary>Why the run failed or did not happen, or null.</summary>
    [JsonPropertyName("error")]
    public string? Error { get; init; }

    /// <summary>Remarks that do not fail the run (e.g. the daemon had to be killed after a clean restore).</summary>
    [JsonPropertyName("notes")]
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>From "restore finished" until every task verified its memory, seconds.</summary>
    [JsonPropertyName("restore_to_verified_s")]
    public double RestoreToVerifiedSeconds { get; init; } = double.NaN;

    /// <summary>Worst task's first-touch p50, µs.</summary>
    [JsonPropertyName("touch_p50_us")]
    public double TouchP50Us { get; init; } = double.NaN;

    /// <summary>Worst task's first-touch p99, µs.</summary>
    [JsonPropertyName("touch_p99_us")]
    public double TouchP99Us { get; init; } = double.NaN;

    /// <summary>Largest first-touch latency of any task, µs.</summary>
    [JsonPropertyName("touch_max_us")]
    public double TouchMaxUs { get; init; } = double.NaN;

    /// <summary>
    /// Largest first touch of any task once the toucher's own wait for a CPU inside it is taken out (what the daemon
    /// added, bounded from above), µs; NaN when the kernel does not account run delay.
    /// </summary>
    [JsonPropertyName("touch_max_excl_cpu_wait_us")]
    public double TouchMaxExclCpuWaitUs { get; init; } = double.NaN;

    /// <summary>
    /// Largest touch, µs, of the same touch loop over as many pages in as many processes on memory already present (no
    /// daemon), measured right after the run: the floor the machine's scheduler sets for <see cref="TouchMaxUs"/>.
    /// </summary>
    [JsonPropertyName("floor_touch_max_us")]
    public double FloorTouchMaxUs { get; init; } = double.NaN;

    /// <summary>Bytes of all first-touched pages divided by the slowest task's touch time, MiB/s.</summary>
    [JsonPropertyName("throughput_mib_s")]
    public double ThroughputMiBps { get; init; } = double.NaN;

    /// <summary>Daemon's peak anonymous resident memory (RssAnon sampled every 10 ms), MiB: the RSS target's figure.</summary>
    [JsonPropertyName("daemon_rss_mib")]
    public double DaemonPeakRssMiB { get; init; } = double.NaN;

    /// <summary>Daemon's ru_maxrss, MiB: includes image pages it mapped (page cache), so not its own memory.</summary>
    [JsonPropertyName("daemon_maxrss_mib")]
    public double DaemonMaxRssMiB { get; init; } = double.NaN;

    /// <summary>Daemon's user + system CPU seconds over its whole life.</summary>
    [JsonPropertyName("daemon_cpu_s")]
    public double DaemonCpuSeconds { get; init; } = double.NaN;

    /// <summary>From spawning the daemon to its readiness byte on --status-fd, ms.</summary>
    [JsonPropertyName("listening_ms")]
    public double ListeningMs { get; init; } = double.NaN;

    /// <summary>Bytes the simulated tasks verified against the images.</summary>
    [JsonPropertyName("bytes_verified")]
    public long BytesVerified { get; init; }

    /// <summary>Pages whose content differed from the images.</summary>
    [JsonPropertyName("mismatches")]
    public long Mismatches { get; init; }

    /// <summary>A run that did not happen or failed before measuring anything.</summary>
    public static ScenarioRun Failed(string error, IReadOnlyList<string>? notes = null) => new() { Ok = false, Error = error, Notes = notes ?? [] };

    /// <summary>
    /// Derives the scenario figures from the simulator's report: worst task p50/p99, overall max, and throughput =
    /// sum of touched bytes / slowest task's touch time.
    /// </summary>
    public static ScenarioRun FromSimReport(SimReport report, double listeningMs, DaemonExit? exit, IReadOnlyList<string> notes)
    {
        ArgumentNullException.ThrowIfNull(report);
        var tasks = report.Tasks;
        double slowestTouchMs = tasks.Count == 0 ? double.NaN : tasks.Max(t => t.TouchMs);
        long touchedBytes = tasks.Sum(t => t.Pages) * (long)PageGeometry.PageSize;
        var errors = new List<string>();
        if (!report.Ok)
        {
            errors.Add(report.Error ?? string.Join("; ", tasks.Where(t => !t.Ok).Select(t => $"pid {t.Pid}: {t.Error ?? (t.Mismatches > 0 ? $"{t.Mismatches} mismatching pages, first {t.FirstMismatch}" : "pages never served")}")));
        }

        if (exit is { Clean: false })
        {
            errors.Add($"daemon did not exit 0 by itself: {exit}");
        }

        return new ScenarioRun
        {
            Ok = errors.Count == 0,
            Error = errors.Count == 0 ? null : string.Join("; ", errors),
            Notes = notes,
            RestoreToVerifiedSeconds = report.Ok ? report.TouchToVerifiedMs / 1000 : double.NaN,
            TouchP50Us = tasks.Count == 0 ? double.NaN : tasks.Max(t => t.P50Us),
            TouchP99Us = tasks.Count == 0 ? double.NaN : tasks.Max(t => t.P99Us),
            TouchMaxUs = tasks.Count == 0 ? double.NaN : tasks.Max(t => t.MaxUs),
            TouchMaxExclCpuWaitUs = tasks.Count == 0 || tasks.Any(t => t.MaxExclCpuWaitUs is null) ? double.NaN : tasks.Max(t => t.MaxExclCpuWaitUs!.Value),
            ThroughputMiBps = slowestTouchMs > 0 ? touchedBytes / (double)(1 << 20) / (slowestTouchMs / 1000) : double.NaN,
            DaemonPeakRssMiB = exit?.PeakAnonRssMiB ?? double.NaN,
            DaemonMaxRssMiB = exit?.PeakRssMiB ?? double.NaN,
            DaemonCpuSeconds = exit?.CpuSeconds ?? double.NaN,
            ListeningMs = listeningMs,
            BytesVerified = tasks.Sum(t => t.BytesVerified),
            Mismatches = tasks.Sum(t => t.Mismatches),
        };
    }
}
