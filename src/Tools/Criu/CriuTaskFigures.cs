using System.Text.Json.Serialization;

namespace LazyActors.Tools.Criu;

/// <summary>One restored task's figures, from its result file.</summary>
public sealed record CriuTaskFigures
{
    /// <summary>The task index.</summary>
    [JsonPropertyName("task")]
    public int Task { get; init; }

    /// <summary>Bytes it found right.</summary>
    [JsonPropertyName("bytes_verified")]
    public long BytesVerified { get; init; }

    /// <summary>First-touch median, µs (NaN for the python workload).</summary>
    [JsonPropertyName("p50_us")]
    public double P50Us { get; init; } = double.NaN;

    /// <summary>First-touch 99th percentile, µs.</summary>
    [JsonPropertyName("p99_us")]
    public double P99Us { get; init; } = double.NaN;

    /// <summary>Largest first touch, µs.</summary>
    [JsonPropertyName("max_us")]
    public double MaxUs { get; init; } = double.NaN;

    /// <summary>From its first touch to the end of its last, seconds.</summary>
    [JsonPropertyName("touch_s")]
    public double TouchSeconds { get; init; } = double.NaN;

    /// <summary>The python workload: its CPU time between trigger and answer, seconds (NaN for the native workload).</summary>
    [JsonPropertyName("cpu_s")]
    public double CpuSeconds { get; init; } = double.NaN;

    /// <summary>The python workload: runnable but without a CPU between trigger and answer, seconds.</summary>
    [JsonPropertyName("run_delay_s")]
    public double RunDelaySeconds { get; init; } = double.NaN;

    /// <summary>
    /// The python workload: neither running nor runnable between trigger and answer (its wall time less CPU and run
    /// delay), seconds: blocked, i.e. waiting in a fault for the daemon (or in its few system calls).
    /// </summary>
    [JsonPropertyName("blocked_s")]
    public double BlockedSeconds { get; init; } = double.NaN;

    /// <summary>The python workload: its minor faults between trigger and answer.</summary>
    [JsonPropertyName("minor_faults")]
    public double MinorFaults { get; init; } = double.NaN;

    /// <summary>From the daemon's start until this task had verified everything, seconds.</summary>
    [JsonPropertyName("verified_s")]
    public double VerifiedSeconds { get; init; } = double.NaN;

    /// <summary>Why this task failed, or null.</summary>
    [JsonPropertyName("problem")]
    public string? Problem { get; init; }
}
