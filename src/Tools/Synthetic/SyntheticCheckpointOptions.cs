namespace LazyActors.Tools.Synthetic;

/// <summary>What <see cref="SyntheticCheckpoint"/> generates.</summary>
/// <param name="Tasks">Number of processes (pids 1000, 1001, ...; task i's parent is task (i-1)/2).</param>
/// <param name="BytesPerTask">Total size of each task's lazy-capable anonymous VMAs (rounded up to whole pages).</param>
/// <param name="Seed">Pattern seed (the <c>SEED</c> of the fixtures) and seed of the layout choices.</param>
public sealed record SyntheticCheckpointOptions(int Tasks, long BytesPerTask, ushort Seed)
{
    /// <summary>Number of lazy-capable VMAs per task (at least 1; fewer when the size is too small).</summary>
    public int LazyVmasPerTask { get; init; } = 3;

    /// <summary>Pages of the non-lazy MAP_LOCKED VMA (b=0), all dumped PE_PRESENT.</summary>
    public int LockedPages { get; init; } = 8;

    /// <summary>Largest pagemap entry, in pages (CRIU's page pipe holds 256 pages of 4 KiB).</summary>
    public int MaxEntryPages { get; init; } = 256;

    /// <summary>One in this many 16-page blocks of a lazy VMA is never dumped (a hole). 0 = no holes.</summary>
    public int HoleBlockOneIn { get; init; } = 8;

    /// <summary>One in this many dumped lazy pages is all zeros. 0 = none.</summary>
    public int ZeroPageOneIn { get; init; } = 32;

    /// <summary>When true every task uses the same addresses (they are separate processes, so that is legal).</summary>
    public bool SameAddressesForAllTasks { get; init; }
}
