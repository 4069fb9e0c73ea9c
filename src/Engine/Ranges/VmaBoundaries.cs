namespace LazyActors.Engine.Ranges;

/// <summary>
/// Where a task's VMAs began and ended at dump time (dump addresses), which no single UFFDIO_COPY may cross: the kernel
/// refuses a copy that does not fit in one VMA with ENOENT and copies nothing. Pending ranges are merged across such
/// boundaries when their addresses are contiguous, so copies are cut here instead. Memory moved by mremap keeps its
/// dump addresses, so the boundaries stay valid for it; boundaries made later (an mprotect splitting a VMA) are found
/// by the copy itself (see <c>TaskCopyQueue</c>). Immutable, shared by a task and its fork children.
/// </summary>
public sealed class VmaBoundaries
{
    private readonly ulong[] _sorted;

    /// <summary>Boundaries at the given dump addresses (each VMA's start and end).</summary>
    public VmaBoundaries(IEnumerable<ulong> boundaries)
    {
        ArgumentNullException.ThrowIfNull(boundaries);
        _sorted = boundaries.Distinct().Order().ToArray();
    }

    /// <summary>No known boundary (copies are only cut where the kernel refuses them).</summary>
    public static VmaBoundaries None { get; } = new([]);

    /// <summary>Number of distinct boundaries.</summary>
    public int Count => _sorted.Length;

    /// <summary>
    /// At most <paramref name="maxBytes"/>, and no further than the first boundary above <paramref name="dumpAddress"/>:
    /// the longest copy from there that stays inside one dump-time VMA.
    /// </summary>
    public ulong Clamp(ulong dumpAddress, ulong maxBytes)
    {
        var index = Array.BinarySearch(_sorted, dumpAddress);
        index = index >= 0 ? index + 1 : ~index;
        return index < _sorted.Length ? Math.Min(maxBytes, _sorted[index] - dumpAddress) : maxBytes;
    }
}
