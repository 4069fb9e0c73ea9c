using System.Text.Json.Serialization;

namespace LazyActors.Tools.Bench;

/// <summary>Raw UFFDIO_COPY bandwidth for one chunk size, in decimal GB/s (10^9 bytes per second).</summary>
/// <param name="ChunkBytes">Bytes per UFFDIO_COPY.</param>
/// <param name="GBps">Median and range over the repetitions.</param>
public sealed record CopyBandwidthResult(
    [property: JsonPropertyName("chunk_bytes")] int ChunkBytes,
    [property: JsonPropertyName("gb_per_s")] MetricSummary GBps);

/// <summary>The physical limits measured in the bench's own process, against which scenarios are compared.</summary>
public sealed record ProbeReport
{
    /// <summary>One entry per chunk size, smallest first.</summary>
    [JsonPropertyName("copy_bandwidth")]
    public IReadOnlyList<CopyBandwidthResult> CopyBandwidth { get; init; } = [];

    /// <summary>Round-trip p50 per pass, µs.</summary>
    [JsonPropertyName("round_trip_p50_us")]
    public MetricSummary RoundTripP50Us { get; init; } = MetricSummary.Empty;

    /// <summary>Round-trip p99 per pass, µs.</summary>
    [JsonPropertyName("round_trip_p99_us")]
    public MetricSummary RoundTripP99Us { get; init; } = MetricSummary.Empty;

    /// <summary>Round-trip maximum per pass, µs.</summary>
    [JsonPropertyName("round_trip_max_us")]
    public MetricSummary RoundTripMaxUs { get; init; } = MetricSummary.Empty;

    /// <summary>Round-trip p50 with both threads pinned to one CPU, µs (empty when not measured).</summary>
    [JsonPropertyName("round_trip_same_cpu_p50_us")]
    public MetricSummary SameCpuP50Us { get; init; } = MetricSummary.Empty;

    /// <summary>Round-trip p50 with the threads pinned to two CPUs, µs (empty when not measured or one CPU).</summary>
    [JsonPropertyName("round_trip_cross_cpu_p50_us")]
    public MetricSummary CrossCpuP50Us { get; init; } = MetricSummary.Empty;

    /// <summary>Why the probes could not run (e.g. the kernel refused userfaultfd), or null.</summary>
    [JsonPropertyName("error")]
    public string? Error { get; init; }

    /// <summary>Median bandwidth of the largest measured chunk (4 MiB by default) in bytes/s, or NaN.</summary>
    [JsonIgnore]
    public double LargestChunkBytesPerSecond =>
        CopyBandwidth.Count == 0 || !CopyBandwidth[^1].GBps.HasValue ? double.NaN : CopyBandwidth[^1].GBps.Median * 1e9;
}
