namespace LazyActors.Engine.Ranges;

/// <summary>
/// The page size of the whole solution and its arithmetic: CRIU images, page sources, userfaultfd copies, the range
/// bookkeeping and the tools all work in 4 KiB pages (x86_64), and every range kept by <see cref="PageRangeSet"/>
/// starts and ends on a page boundary. This is the only place the size is written down.
/// </summary>
public static class PageGeometry
{
    /// <summary>Bytes in one page (4096).</summary>
    public const ulong PageSize = 4096;

    /// <summary>log2 of <see cref="PageSize"/>.</summary>
    public const int PageShift = 12;

    /// <summary>
    /// End of the x86_64 user address space with 5-level paging (2^57): no task memory (VMA, pagemap entry) lies above
    /// it, so image addresses beyond it are corrupt, and page counts bounded by it cannot overflow byte arithmetic.
    /// </summary>
    public const ulong UserAddressLimit = 1UL << 57;

    /// <summary>Low bits that must be zero in a page-aligned address.</summary>
    public const ulong PageMask = PageSize - 1;

    /// <summary>Rounds <paramref name="address"/> down to the start of its page.</summary>
    public static ulong AlignDown(ulong address) => address & ~PageMask;

    /// <summary>True when <paramref name="value"/> is a multiple of <see cref="PageSize"/>.</summary>
    public static bool IsAligned(ulong value) => (value & PageMask) == 0;

    /// <summary>Number of whole pages in <paramref name="bytes"/> (bytes must be page-aligned to be exact).</summary>
    public static ulong PagesIn(ulong bytes) => bytes >> PageShift;
}
