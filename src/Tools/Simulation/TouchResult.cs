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

    [JsonPropertyName("os_pid")]
    public int OsPid { get; init; }

    /// <summary>Pages first-touched (every readable page of the lazy-capable VMAs, less what the scenario removed).</summary>
    [JsonPropertyName("pages")]
    public long Pages { get; init; }

    [JsonPropertyName("touch_ms")]
    public double TouchMs { get; init; }

    [JsonPropertyName("p50_us")]
    public double P50Us { get; init; }

    [JsonPropertyName("p99_us")]
    public double P99Us { get; init; }

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

    [JsonPropertyName("bytes_verified")]
    public long BytesVerified { get; init; }

    /// <summary>Pages whose bytes differ from the images.</summary>
    [JsonPropertyName("mismatches")]
    public long Mismatches { get; init; }

    [JsonPropertyName("first_mismatch")]
    public string? FirstMismatch { get; init; }

    /// <summary>Pages whose first touch never returned before the timeout (ranges, hex), if any.</summary>
    [JsonPropertyName("unserved")]
    public IReadOnlyList<string>? Unserved { get; init; }

    [JsonPropertyName("error")]
    public string? Error { get; init; }

    [JsonIgnore]
    public bool Ok => Error is null && Mismatches == 0 && (Unserved is null || Unserved.Count == 0);
}

/// <summary>The whole simulation's outcome (printed as a table, or as JSON with <c>--json</c>).</summary>
public sealed record SimReport
{
    [JsonPropertyName("ok")]
    public bool Ok { get; init; }

    [JsonPropertyName("images")]
    public string Images { get; init; } = "";

    [JsonPropertyName("restore_ms")]
    public double RestoreMs { get; init; }

    /// <summary>From "restore finished" until every task has verified its memory.</summary>
    [JsonPropertyName("touch_to_verified_ms")]
    public double TouchToVerifiedMs { get; init; }

    [JsonPropertyName("tasks")]
    public IReadOnlyList<TouchResult> Tasks { get; init; } = [];

    [JsonPropertyName("zombies")]
    public IReadOnlyList<int> Zombies { get; init; } = [];

    [JsonPropertyName("error")]
    public string? Error { get; init; }
}

[JsonSerializable(typeof(TouchResult))]
[JsonSerializable(typeof(SimReport))]
[JsonSourceGenerationOptions(WriteIndented = false, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class SimJsonContext : JsonSerializerContext
{
}
