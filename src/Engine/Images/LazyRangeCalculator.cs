namespace LazyActors.Engine.Images;

/// <summary>
/// Derives the lazy address ranges of one task from its pagemap and VMAs, as CRIU's lazy-pages daemon does
/// (criu/uffd.c <c>collect_iovs</c>), plus the never-dumped parts of lazy-capable VMAs.
/// </summary>
public static class LazyRangeCalculator
{
    /// <summary>
    /// Every PE_LAZY run (with or without PE_PRESENT), cut at the end of each VMA it crosses, because one
    /// UFFDIO_COPY must stay inside one VMA. Adjacent pieces are not merged. <paramref name="sortedVmas"/> are the
    /// real VMAs sorted by start (no guard pseudo-VMAs); a part beyond the last VMA end is kept whole.
    /// </summary>
    public static List<LazyRange> CollectLazyRanges(IReadOnlyList<PagemapRun> runs, IReadOnlyList<Vma> sortedVmas)
    {
        var ranges = new List<LazyRange>();
        int vmaIndex = 0;
        foreach (var run in runs)
        {
            if (!run.IsLazy)
            {
                continue;
            }

            ulong start = run.Vaddr;
            ulong end = run.End;
            while (start < end)
            {
                while (vmaIndex < sortedVmas.Count && sortedVmas[vmaIndex].End <= start)
                {
                    vmaIndex++;
                }

                ulong pieceEnd = vmaIndex < sortedVmas.Count ? Math.Min(end, sortedVmas[vmaIndex].End) : end;
                ranges.Add(new LazyRange(start, pieceEnd));
                start = pieceEnd;
            }
        }

        return ranges;
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
