namespace LazyActors.Tools.Bench;

/// <summary>Sizes of the limit probes (the bench's defaults; tests use tiny ones).</summary>
public sealed record ProbeSettings
{
    /// <summary>The UFFDIO_COPY chunk sizes measured, in bytes: 4 KiB, 64 KiB, 1 MiB, 4 MiB.</summary>
    public static IReadOnlyList<int> DefaultChunks { get; } = [4 << 10, 64 << 10, 1 << 20, 4 << 20];

    /// <summary>Chunk sizes measured (page multiples dividing <see cref="RegionBytes"/>).</summary>
    public IReadOnlyList<int> Chunks { get; init; } = DefaultChunks;

    /// <summary>Bytes copied per bandwidth repetition (a fresh region each time).</summary>
    public long RegionBytes { get; init; } = 256L << 20;

    /// <summary>Timed repetitions per chunk size.</summary>
    public int Repetitions { get; init; } = 3;

    /// <summary>Faults per round-trip pass.</summary>
    public int RoundTripPages { get; init; } = 4096;

    /// <summary>Timed round-trip passes (percentiles are per pass; the table shows their median and range).</summary>
    public int RoundTripPasses { get; init; } = 3;

    /// <summary>Also measure the round trip with both threads on one CPU and on two CPUs (see <see cref="CpuPlacement"/>).</summary>
    public bool PinnedRoundTrips { get; init; } = true;

    /// <summary>Untimed warm-up before the timed passes (JIT, first-use costs of the kernel paths).</summary>
    public bool WarmUp { get; init; } = true;

    /// <summary>Bound of each round-trip pass.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);
}
