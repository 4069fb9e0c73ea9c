namespace LazyActors.Engine.Images;

/// <summary>The images of one process of a checkpoint: pstree record, state, VMAs, pagemap and derived lazy ranges.</summary>
public sealed class TaskImages
{
    internal TaskImages(
        int pid, int ppid, int pgid, int sid, IReadOnlyList<int> threads, TaskState state,
        IReadOnlyList<Vma> vmas, IReadOnlyList<Vma> guardVmas, PagemapFile? pagemap)
        : this(pid, ppid, pgid, sid, threads, state, vmas, guardVmas, pagemap, pagemap?.Runs ?? [], pagemap?.PagesId ?? 0, pagemap?.Path)
    {
    }

    /// <summary>
    /// A task described by another process (the Akka transport's metadata): its pagemap runs without a file behind them;
    /// <paramref name="pagemapOrigin"/> names where they came from in errors.
    /// </summary>
    internal TaskImages(
        int pid, int ppid, int pgid, int sid, IReadOnlyList<int> threads, TaskState state,
        IReadOnlyList<Vma> vmas, IReadOnlyList<Vma> guardVmas, IReadOnlyList<PagemapRun> pagemap, string? pagemapOrigin)
        : this(pid, ppid, pgid, sid, threads, state, vmas, guardVmas, null, pagemap, 0, pagemapOrigin)
    {
    }

    private TaskImages(
        int pid, int ppid, int pgid, int sid, IReadOnlyList<int> threads, TaskState state,
        IReadOnlyList<Vma> vmas, IReadOnlyList<Vma> guardVmas, PagemapFile? pagemap, IReadOnlyList<PagemapRun> runs, uint pagesId, string? pagemapOrigin)
    {
        Pid = pid;
        Ppid = ppid;
        Pgid = pgid;
        Sid = sid;
        Threads = threads;
        State = state;
        Vmas = vmas;
        GuardVmas = guardVmas;
        PagemapFile = pagemap;
        PagemapOrigin = pagemapOrigin;
        PagesId = pagesId;
        Pagemap = runs;
        LazyRanges = LazyRangeCalculator.CollectLazyRanges(Pagemap, vmas);
        UnservableLazyRanges = LazyRangeCalculator.CollectUnservableLazyRanges(Pagemap, vmas);
        NeverDumpedLazyCapable = LazyRangeCalculator.CollectNeverDumped(Pagemap, vmas, guardVmas);
        foreach (var run in Pagemap)
        {
            if (run.IsLazy)
            {
                LazyPages += run.NrPages;
            }

            if (run.IsPresent)
            {
                PresentPages += run.NrPages;
            }
        }
    }

    /// <summary>The pid as recorded in pstree.img (namespace pid; names the image files).</summary>
    public int Pid { get; }

    /// <summary>Parent pid (0 for the root).</summary>
    public int Ppid { get; }

    /// <summary>Process group id.</summary>
    public int Pgid { get; }

    /// <summary>Session id.</summary>
    public int Sid { get; }

    /// <summary>Thread ids; <c>Threads[0]</c> is the pid.</summary>
    public IReadOnlyList<int> Threads { get; }

    /// <summary><c>task_state</c> from <c>core-&lt;pid&gt;.img</c>, or <see cref="TaskState.Unknown"/>.</summary>
    public TaskState State { get; }

    /// <summary>Real VMAs sorted by start.</summary>
    public IReadOnlyList<Vma> Vmas { get; }

    /// <summary>MADV_GUARD_INSTALL pseudo-VMAs (status GUARD), kept apart from <see cref="Vmas"/>.</summary>
    public IReadOnlyList<Vma> GuardVmas { get; }

    /// <summary>The decoded pagemap file, or null for a task without memory images (a zombie).</summary>
    public PagemapFile? PagemapFile { get; }

    /// <summary>Where the pagemap came from (its file, or the peer that described it); null without one.</summary>
    public string? PagemapOrigin { get; }

    /// <summary><c>PagemapHead.pages_id</c> (0 without a pagemap).</summary>
    public uint PagesId { get; }

    /// <summary>Normalised pagemap entries in address order.</summary>
    public IReadOnlyList<PagemapRun> Pagemap { get; }

    /// <summary>PE_LAZY entries cut at VMA boundaries, inside lazy-capable VMAs (CRIU <c>collect_iovs</c>).</summary>
    public IReadOnlyList<LazyRange> LazyRanges { get; }

    /// <summary>PE_LAZY pages in no lazy-capable VMA: nothing can restore them (empty in every real dump).</summary>
    public IReadOnlyList<LazyRange> UnservableLazyRanges { get; }

    /// <summary>The first lazy page of every lazy-capable VMA that has lazy pages, in address order.</summary>
    public IReadOnlyList<ulong> FirstLazyPageOfEachVma()
    {
        var firsts = new List<ulong>();
        int vma = 0;
        int lastVma = -1;
        foreach (var range in LazyRanges)
        {
            while (vma < Vmas.Count && Vmas[vma].End <= range.Start)
            {
                vma++;
            }

            if (vma < Vmas.Count && vma != lastVma)
            {
                firsts.Add(range.Start);
                lastVma = vma;
            }
        }

        return firsts;
    }

    /// <summary>Parts of lazy-capable VMAs in no pagemap entry and no guard range (zero pages at fault time).</summary>
    public IReadOnlyList<LazyRange> NeverDumpedLazyCapable { get; }

    /// <summary>Pages flagged PE_LAZY.</summary>
    public ulong LazyPages { get; }

    /// <summary>Pages flagged PE_PRESENT (with data in this image set).</summary>
    public ulong PresentPages { get; }

    /// <summary>Index of the run containing <paramref name="address"/>, or -1. O(log n).</summary>
    public int FindRun(ulong address)
    {
        int index = FindFirstRunEndingAfter(address);
        return index < Pagemap.Count && Pagemap[index].Vaddr <= address ? index : -1;
    }

    /// <summary>Index of the first run whose end is above <paramref name="address"/> (Count if none). O(log n).</summary>
    public int FindFirstRunEndingAfter(ulong address)
    {
        int lo = 0;
        int hi = Pagemap.Count;
        while (lo < hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (Pagemap[mid].End <= address)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}
