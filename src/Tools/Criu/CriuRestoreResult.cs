using System.Text.Json.Serialization;

namespace LazyActors.Tools.Criu;

/// <summary>
/// One real <c>criu restore --lazy-pages</c> of a dumped workload served by one daemon, with every figure the
/// harness measures. Times are from the daemon's start unless named otherwise. <see cref="Ok"/> means: the restore
/// returned, the restored tree ended with status 0, every task verified every byte it had to, and the daemon exited 0
/// by itself (and, remotely, the source too).
/// </summary>
public sealed record CriuRestoreResult
{
    /// <summary>True when everything above held.</summary>
    [JsonPropertyName("ok")]
    public bool Ok => Failures.Count == 0;

    /// <summary>Why the run failed (empty when it did not).</summary>
    [JsonPropertyName("failures")]
    public IReadOnlyList<string> Failures { get; init; } = [];

    /// <summary>Remarks that do not fail the run.</summary>
    [JsonPropertyName("notes")]
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The workload's name.</summary>
    [JsonPropertyName("workload")]
    public string Workload { get; init; } = "";

    /// <summary>The daemon's label.</summary>
    [JsonPropertyName("daemon")]
    public string Daemon { get; init; } = "";

    /// <summary>The daemon's command line.</summary>
    [JsonPropertyName("daemon_command")]
    public string DaemonCommand { get; init; } = "";

    /// <summary>Where the pages came from.</summary>
    [JsonPropertyName("transport")]
    [JsonConverter(typeof(JsonStringEnumConverter<CriuTransport>))]
    public CriuTransport Transport { get; init; }

    /// <summary>The source page server's label, for a restore through a page server (else empty).</summary>
    [JsonPropertyName("source")]
    public string Source { get; init; } = "";

    /// <summary>The source page server's command line (else empty).</summary>
    [JsonPropertyName("source_command")]
    public string SourceCommand { get; init; } = "";

    /// <summary>The restore's work directory (daemon and restore logs).</summary>
    [JsonPropertyName("work_dir")]
    public string WorkDirectory { get; init; } = "";

    /// <summary>Daemon start → listening (its status byte; detached: its parent exited 0), seconds.</summary>
    [JsonPropertyName("listening_s")]
    public double ListeningSeconds { get; init; } = double.NaN;

    /// <summary>Daemon start → <c>criu restore</c> returned, seconds.</summary>
    [JsonPropertyName("restore_returned_s")]
    public double RestoreReturnedSeconds { get; init; } = double.NaN;

    /// <summary><c>criu restore</c> itself: spawned → returned, seconds.</summary>
    [JsonPropertyName("restore_s")]
    public double RestoreSeconds { get; init; } = double.NaN;

    /// <summary>Daemon start → the last task verified all its memory (python: gave its correct answer), seconds.</summary>
    [JsonPropertyName("all_verified_s")]
    public double AllVerifiedSeconds { get; init; } = double.NaN;

    /// <summary>Trigger → the last task verified, seconds.</summary>
    [JsonPropertyName("trigger_to_verified_s")]
    public double TriggerToVerifiedSeconds { get; init; } = double.NaN;

    /// <summary>Every task's figures.</summary>
    [JsonPropertyName("tasks")]
    public IReadOnlyList<CriuTaskFigures> Tasks { get; init; } = [];

    /// <summary>Bytes every task together found right.</summary>
    [JsonPropertyName("bytes_verified")]
    public long BytesVerified { get; init; }

    /// <summary>Bytes the tasks had to verify.</summary>
    [JsonPropertyName("bytes_expected")]
    public long BytesExpected { get; init; }

    /// <summary>Lazy bytes in the images: what the daemon served.</summary>
    [JsonPropertyName("lazy_bytes")]
    public long LazyBytes { get; init; }

    /// <summary>Exit code of the restored root (0: every task below verified; 1: a mismatch), null if it did not exit.</summary>
    [JsonPropertyName("root_exit_code")]
    public int? RootExitCode { get; init; }

    /// <summary>
    /// The restored root as the trigger found it (read from /proc just before SIGUSR1): its state, blocked and pending
    /// signals and the system call it is in (number first, "running" when on a CPU). A root still in CRIU's restorer
    /// has every signal blocked: the trigger then waits until the restorer's rt_sigreturn, and a sleep it restarts.
    /// </summary>
    [JsonPropertyName("root_at_trigger")]
    public string? RootAtTrigger { get; init; }

    /// <summary>Exit code of the daemon, null if it was killed.</summary>
    [JsonPropertyName("daemon_exit_code")]
    public int? DaemonExitCode { get; init; }

    /// <summary>The daemon's user + system CPU seconds (every process of its command, from wait4).</summary>
    [JsonPropertyName("daemon_cpu_s")]
    public double DaemonCpuSeconds { get; init; } = double.NaN;

    /// <summary>Daemon CPU seconds per GiB of lazy pages served.</summary>
    [JsonPropertyName("daemon_cpu_s_per_gib")]
    public double DaemonCpuSecondsPerGiB { get; init; } = double.NaN;

    /// <summary>The daemon's peak anonymous RSS (sampled every 10 ms), MiB.</summary>
    [JsonPropertyName("daemon_peak_anon_rss_mib")]
    public double DaemonPeakAnonRssMiB { get; init; } = double.NaN;

    /// <summary>The daemon's ru_maxrss (counts the image pages it maps), MiB.</summary>
    [JsonPropertyName("daemon_maxrss_mib")]
    public double DaemonMaxRssMiB { get; init; } = double.NaN;

    /// <summary>Worst task's first-touch median, µs.</summary>
    [JsonIgnore]
    public double TouchP50Us => Worst(t => t.P50Us);

    /// <summary>Worst task's first-touch 99th percentile, µs.</summary>
    [JsonIgnore]
    public double TouchP99Us => Worst(t => t.P99Us);

    /// <summary>Largest first touch of any task, µs.</summary>
    [JsonIgnore]
    public double TouchMaxUs => Worst(t => t.MaxUs);

    /// <summary>The slowest task's touch time, seconds.</summary>
    [JsonIgnore]
    public double TouchSeconds => Worst(t => t.TouchSeconds);

    /// <summary>The python workload: its CPU between trigger and answer, seconds (the largest over tasks).</summary>
    [JsonIgnore]
    public double TaskCpuSeconds => Worst(t => t.CpuSeconds);

    /// <summary>The python workload: runnable without a CPU between trigger and answer, seconds.</summary>
    [JsonIgnore]
    public double TaskRunDelaySeconds => Worst(t => t.RunDelaySeconds);

    /// <summary>The python workload: blocked (in faults) between trigger and answer, seconds.</summary>
    [JsonIgnore]
    public double TaskBlockedSeconds => Worst(t => t.BlockedSeconds);

    /// <summary>The python workload: minor faults between trigger and answer.</summary>
    [JsonIgnore]
    public double TaskMinorFaults => Worst(t => t.MinorFaults);

    /// <summary>One line: verdict, the main times and the first failure.</summary>
    public string Summary() =>
        $"{Workload} @{Daemon}{(Source.Length > 0 ? $" <- {Source}" : "")}: {(Ok ? "ok" : "FAILED")}, listening {ListeningSeconds:0.000} s, restore returned {RestoreReturnedSeconds:0.000} s, all verified {AllVerifiedSeconds:0.000} s, verified {BytesVerified}/{BytesExpected} bytes"
        + (Ok ? "" : $": {string.Join("; ", Failures)}");

    private double Worst(Func<CriuTaskFigures, double> pick)
    {
        var values = Tasks.Select(pick).Where(v => !double.IsNaN(v)).ToList();
        return values.Count == 0 ? double.NaN : values.Max();
    }
}
