using System.Text.Json;
using System.Text.Json.Serialization;

namespace LazyActors.Tools.Criu;

/// <summary>
/// One task's <c>result-N.json</c> line, written by the workload after the restore: what it checked and found, its
/// first-touch latencies and the host CLOCK_MONOTONIC times of the trigger and of the end of verification. The python
/// workload writes the same record with its answer instead of page counts and latencies.
/// </summary>
public sealed record WorkloadTaskReport
{
    /// <summary>The task index.</summary>
    [JsonPropertyName("task")]
    public int Task { get; init; }

    /// <summary>The pid as the task sees it.</summary>
    [JsonPropertyName("pid")]
    public int Pid { get; init; }

    /// <summary>ok, mismatch or timeout.</summary>
    [JsonPropertyName("status")]
    public string Status { get; init; } = "";

    /// <summary>Pages of the task's workload memory.</summary>
    [JsonPropertyName("pages")]
    public long Pages { get; init; }

    /// <summary>Bytes compared with the expected content.</summary>
    [JsonPropertyName("bytes_checked")]
    public long BytesChecked { get; init; }

    /// <summary>Bytes found right (pages without any mismatching word; the python workload: all or nothing).</summary>
    [JsonPropertyName("bytes_verified")]
    public long BytesVerified { get; init; }

    /// <summary>Pages with at least one wrong word.</summary>
    [JsonPropertyName("mismatched_pages")]
    public long MismatchedPages { get; init; }

    /// <summary>Pages that read as all zeros (a page zero-filled instead of served).</summary>
    [JsonPropertyName("zero_pages")]
    public long ZeroPages { get; init; }

    /// <summary>The first page with a wrong word, -1 if none.</summary>
    [JsonPropertyName("first_mismatch_page")]
    public long FirstMismatchPage { get; init; } = -1;

    /// <summary>The expected value of the first wrong word.</summary>
    [JsonPropertyName("first_mismatch_expected")]
    public ulong FirstMismatchExpected { get; init; }

    /// <summary>The value found in the first wrong word.</summary>
    [JsonPropertyName("first_mismatch_actual")]
    public ulong FirstMismatchActual { get; init; }

    /// <summary>First-touch latency, median, ns.</summary>
    [JsonPropertyName("p50_ns")]
    public long? P50Ns { get; init; }

    /// <summary>First-touch latency, 99th percentile (nearest rank), ns.</summary>
    [JsonPropertyName("p99_ns")]
    public long? P99Ns { get; init; }

    /// <summary>Largest first-touch latency, ns.</summary>
    [JsonPropertyName("max_ns")]
    public long? MaxNs { get; init; }

    /// <summary>Mean first-touch latency, ns.</summary>
    [JsonPropertyName("mean_ns")]
    public long? MeanNs { get; init; }

    /// <summary>The bound above which a touch counts as slow (issue 10's p99 bound, 250 µs), ns.</summary>
    [JsonPropertyName("slow_touch_ns")]
    public long? SlowTouchNs { get; init; }

    /// <summary>Touches longer than <see cref="SlowTouchNs"/>; each is listed in <c>slow-N.tsv</c> beside the result.</summary>
    [JsonPropertyName("slow_touches")]
    public long? SlowTouches { get; init; }

    /// <summary>Touches per power-of-two band of µs: [0] under 1 µs, [i] from 2^(i-1) to 2^i µs, the last everything longer.</summary>
    [JsonPropertyName("touch_histogram")]
    public long[]? TouchHistogram { get; init; }

    /// <summary>From the first touch to the end of the last, ns.</summary>
    [JsonPropertyName("touch_ns")]
    public long? TouchNs { get; init; }

    /// <summary>Time spent verifying after the touches, ns.</summary>
    [JsonPropertyName("verify_ns")]
    public long? VerifyNs { get; init; }

    /// <summary>Host CLOCK_MONOTONIC when the task saw the trigger, ns.</summary>
    [JsonPropertyName("trigger_mono_ns")]
    public long TriggerMonoNs { get; init; }

    /// <summary>Host CLOCK_MONOTONIC when its memory was verified (the python workload: when it had its answer), ns.</summary>
    [JsonPropertyName("verified_mono_ns")]
    public long VerifiedMonoNs { get; init; }

    /// <summary>The time namespace's monotonic offset the task took out of its stamps, ns.</summary>
    [JsonPropertyName("timens_offset_ns")]
    public long TimensOffsetNs { get; init; }

    /// <summary>The python workload: its CPU time between trigger and answer, ns (/proc/thread-self/schedstat).</summary>
    [JsonPropertyName("cpu_ns")]
    public long? CpuNs { get; init; }

    /// <summary>The python workload: its time runnable but without a CPU between trigger and answer, ns.</summary>
    [JsonPropertyName("run_delay_ns")]
    public long? RunDelayNs { get; init; }

    /// <summary>The python workload: its minor faults between trigger and answer (the served lazy pages among them).</summary>
    [JsonPropertyName("minor_faults")]
    public long? MinorFaults { get; init; }

    /// <summary>The python workload's answer after the restore.</summary>
    [JsonPropertyName("answer")]
    public string? Answer { get; init; }

    /// <summary>The python workload's answer before the dump.</summary>
    [JsonPropertyName("expected")]
    public string? Expected { get; init; }

    /// <summary>Parses a result file's text.</summary>
    /// <exception cref="FormatException">Not a result line; the message names <paramref name="path"/>.</exception>
    public static WorkloadTaskReport Parse(string text, string path)
    {
        try
        {
            return JsonSerializer.Deserialize(text, CriuJsonContext.Default.WorkloadTaskReport)
                ?? throw new FormatException($"{path}: empty result");
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{path}: not a workload result line ({ex.Message}): {CriuTool.Tail(text, 300)}", ex);
        }
    }
}
