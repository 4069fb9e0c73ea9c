namespace LazyActors.Engine.Images;

/// <summary>
/// Derives the lazy address ranges of one task from its pagemap and VMAs, as CRIU's lazy-pages daemon does
/// (criu/uffd.c <c>collect_iovs</c>: PE_LAZY entries split at VMA boundaries), the PE_LAZY parts no daemon can serve,
/// and the never-dumped parts of lazy-capable VMAs.
/// </summary>
public static class LazyRangeCalculator
{
    /// <summary>
    /// Every PE_LAZY run (with or without PE_PRESENT) cut at every VMA boundary, keeping only the pieces inside
    /// lazy-capable VMAs: CRIU's restorer registers exactly those VMAs with userfaultfd, whole, and one UFFDIO_COPY must
    /// stay inside one VMA (the kernel answers ENOENT for a copy that crosses a VMA end, copying nothing). Adjacent
    /// pieces are not merged. <paramref name="sortedVmas"/> are the real VMAs sorted by start (no guard pseudo-VMAs).
    /// </summary>
    public static List<LazyRange> CollectLazyRanges(IReadOnlyList<PagemapRun> runs, IReadOnlyList<Vma> sortedVmas) =>
        Collect(runs, sortedVmas, servable: true);

    /// <summary>
    /// The parts of PE_LAZY runs that lie in no lazy-capable VMA (in a gap, past the last VMA, or in a VMA the restorer
    /// does not register: file-backed, shared, locked, hugetlb, vDSO). CRIU's restorer skips every PE_LAZY page when it
    /// fills memory and registers only lazy-capable VMAs, so no lazy-pages daemon can serve these pages: an image set
    /// that has any is inconsistent (<see cref="Checkpoint.RequireLazyPagesServable"/>). Real dumps never have them.
    /// </summary>
    public static List<LazyRange> CollectUnservableLazyRanges(IReadOnlyList<PagemapRun> runs, IReadOnlyList<Vma> sortedVmas) =>
        Collect(runs, sortedVmas, servable: false);

    private static List<LazyRange> Collect(IReadOnlyList<PagemapRun> runs, IReadOnlyList<Vma> sortedVmas, bool servable)
    {
        var ranges = new List<LazyRange>();
        int vmaIndex = 0;
        foreach (var run in runs)
        {
            if (!run.IsLazy)
            {
                continue;
            }

            ulong cursor = run.Vaddr;
            ulong end = run.End;
            while (vmaIndex < sortedVmas.Count && sortedVmas[vmaIndex].End <= cursor)
            {
                vmaIndex++;
            }

            for (int i = vmaIndex; cursor < end; i++)
            {
                // Next VMA overlapping [cursor, end), if any: the part before it is in no VMA.
                ulong vmaStart = i < sortedVmas.Count ? Math.Max(sortedVmas[i].Start, cursor) : end;
                if (vmaStart >= end)
                {
                    Add(ranges, cursor, end, servable: false, servable);
                    break;
                }

                Add(ranges, cursor, vmaStart, servable: false, servable);
                ulong pieceEnd = Math.Min(end, sortedVmas[i].End);
                Add(ranges, vmaStart, pieceEnd, sortedVmas[i].IsLazyCapable, servable);
                cursor = pieceEnd;
            }
        }

        return ranges;
    }

    private static void Add(List<LazyRange> ranges, ulong start, ulong end, bool servable, bool wanted)
    {
        if (start < end && servable == wanted)
        {
            ranges.Add(new LazyRange(start, end));
        }
    }

    /// <summary>
    /// The parts of lazy-capable VMAs that no pagemap entry covers (untouched memory: the daemon answers faults there
    /// with zero pages). Ranges covered by a MADV_GUARD_INSTALL pseudo-VMA are excluded: they fault with SIGSEGV,
    /// never through userfaultfd.
    /// </summary>
    public static List<LazyRange> CollectNeverDumped(IReadOnlyList<PagemapRun> runs, IReadOnlyList<Vma> sortedVmas, IReadOnlyList<Vma> guardVmas)
    {
        var covered = new List<LazyRange>(runs.Count + guardVmas.Count);
        covered.AddRange(runs.Select(r => new LazyRange(r.Vaddr, r.End)));
        covered.AddRange(guardVmas.Select(g => new LazyRange(g.Start, g.End)));
        covered.Sort((a, b) => a.Start.CompareTo(b.Start));

        var result = new List<LazyRange>();
        int coveredIndex = 0;
        foreach (var vma in sortedVmas)
        {
            if (!vma.IsLazyCapable)
            {
                continue;
            }

            while (coveredIndex < covered.Count && covered[coveredIndex].End <= vma.Start)
            {
                coveredIndex++;
            }

            ulong cursor = vma.Start;
            for (int i = coveredIndex; i < covered.Count && covered[i].Start < vma.End; i++)
            {
                if (covered[i].Start > cursor)
                {
                    result.Add(new LazyRange(cursor, covered[i].Start));
                }

                cursor = Math.Max(cursor, Math.Min(covered[i].End, vma.End));
            }

            if (cursor < vma.End)
            {
                result.Add(new LazyRange(cursor, vma.End));
            }
        }

        return result;
    }
}
