using System.Text.Json.Serialization;

namespace LazyActors.Tools.Simulation;

/// <summary>What one simulated process reports after touching and verifying its memory.</summary>
public sealed record TouchResult
{
    /// <summary>Image (virtual) pid of the task this process restores.</summary>
    [JsonPropertyName("pid")]
    public int Pid { get; init; }

    /// <summary><c>task</c>, or <c>fork-child</c> for the child of the fork scenario.</summary>
    [JsonPropertyName("role")]
    public string Role { get; init; } = "task";

    /// <summary>The operating-system pid of the process that played the task.</summary>
    [JsonPropertyName("os_pid")]
    public int OsPid { get; init; }

    /// <summary>Pages first-touched (every readable page of the lazy-capable VMAs, less what the scenario removed).</summary>
    [JsonPropertyName("pages")]
    public long Pages { get; init; }

    /// <summary>Time to first-touch every page, in milliseconds.</summary>
    [JsonPropertyName("touch_ms")]
    public double TouchMs { get; init; }

    /// <summary>Median first-touch latency, in microseconds.</summary>
    [JsonPropertyName("p50_us")]
    public double P50Us { get; init; }

    /// <summary>99th percentile first-touch latency, in microseconds.</summary>
    [JsonPropertyName("p99_us")]
    public double P99Us { get; init; }

    /// <summary>Slowest first touch, in microseconds.</summary>
    [JsonPropertyName("max_us")]
    public double MaxUs { get; init; }

    /// <summary>
    /// The slowest first touch once the touching thread's own wait for a CPU inside it is taken out: an upper bound of
    /// what the daemon added (a task preempted mid-touch by its busy siblings waits tens of milliseconds on a small
    /// machine whoever serves its faults). Absent when the kernel does not account run delay (see <c>task_delayacct</c>).
    /// </summary>
    [JsonPropertyName("max_excl_cpu_wait_us")]
    public double? MaxExclCpuWaitUs { get; init; }

    /// <summary>Position, in touch order, of the slowest first touch (0 = the very first touch).</summary>
    [JsonPropertyName("max_at")]
    public long MaxAt { get; init; } = -1;

    /// <summary>Bytes equal to the images.</summary>
    [JsonPropertyName("bytes_verified")]
    public long BytesVerified { get; init; }

    /// <summary>Pages whose bytes differ from the images.</summary>
    [JsonPropertyName("mismatches")]
    public long Mismatches { get; init; }

    /// <summary>Address of the first page that differs, or null.</summary>
    [JsonPropertyName("first_mismatch")]
    public string? FirstMismatch { get; init; }

    /// <summary>Pages whose first touch never returned before the timeout (ranges, hex), if any.</summary>
    [JsonPropertyName("unserved")]
    public IReadOnlyList<string>? Unserved { get; init; }

    /// <summary>Why the task failed, or null.</summary>
    [JsonPropertyName("error")]
    public string? Error { get; init; }

    /// <summary>No error, no mismatch, no page left unserved.</summary>
    [JsonIgnore]
    public bool Ok => Error is null && Mismatches == 0 && (Unserved is null || Unserved.Count == 0);
}

/// <summary>The whole simulation's outcome (printed as a table, or as JSON with <c>--json</c>).</summary>
public sealed record SimReport
{
    /// <summary>Every task verified every byte.</summary>
    [JsonPropertyName("ok")]
    public bool Ok { get; init; }

    /// <summary>The image directory restored.</summary>
    [JsonPropertyName("images")]
    public string Images { get; init; } = "";

    /// <summary>From the simulator's start until every task registered its userfaultfd, in milliseconds.</summary>
    [JsonPropertyName("restore_ms")]
    public double RestoreMs { get; init; }

    /// <summary>From "restore finished" until every task has verified its memory.</summary>
    [JsonPropertyName("touch_to_verified_ms")]
    public double TouchToVerifiedMs { get; init; }

    /// <summary>One result per simulated process (a fork adds one for the child).</summary>
    [JsonPropertyName("tasks")]
    public IReadOnlyList<TouchResult> Tasks { get; init; } = [];

    /// <summary>Pids of the checkpoint's zombies (sent as negative pids).</summary>
    [JsonPropertyName("zombies")]
    public IReadOnlyList<int> Zombies { get; init; } = [];

    /// <summary>Why the simulation failed as a whole, or null.</summary>
    [JsonPropertyName("error")]
    public string? Error { get; init; }
}

[JsonSerializable(typeof(TouchResult))]
[JsonSerializable(typeof(SimReport))]
[JsonSourceGenerationOptions(WriteIndented = false, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class SimJsonContext : JsonSerializerContext
{
}
