namespace LazyActors.Engine.Images;

/// <summary>What <see cref="SyntheticCheckpoint"/> wrote: every task, its buffers, VMAs and pagemap.</summary>
public sealed record SyntheticLayout(ushort Seed, IReadOnlyList<SyntheticTask> Tasks, IReadOnlyList<int> PstreeOrder);

/// <summary>One synthetic process: task index <paramref name="Index"/> (the pattern's t), its pid, parent and images.</summary>
public sealed record SyntheticTask(
    int Index, int Pid, int Ppid, uint PagesId,
    IReadOnlyList<SyntheticBuffer> Buffers, IReadOnlyList<Vma> Vmas, IReadOnlyList<PagemapRun> Pagemap);

/// <summary>
/// One buffer (one VMA) of a synthetic task. <paramref name="Layout"/> has one letter per page: 'P' pattern,
/// 'Z' dumped zeros, '.' never dumped. <paramref name="Lazy"/> tells whether the VMA is lazy-capable.
/// </summary>
public sealed record SyntheticBuffer(int Index, ulong Address, string Layout, bool Lazy)
{
    /// <summary>Pages in the buffer.</summary>
    public int Pages => Layout.Length;

    /// <summary>Exclusive end address.</summary>
    public ulong End => Address + (ulong)Layout.Length * PagemapRun.PageSize;
}
