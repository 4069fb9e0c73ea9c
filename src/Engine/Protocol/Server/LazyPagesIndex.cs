using LazyActors.Engine.Ranges;
using LazyActors.Engine.Images;

namespace LazyActors.Engine.Protocol.Server;

/// <summary>
/// The lazy pages of a checkpoint cut into the runs CRIU's <c>page-server --lazy-pages</c> answers from, so a GET is
/// clamped exactly where CRIU clamps it. CRIU rebuilds each task's page pipe from its pagemap (criu/page-xfer.c
/// <c>fill_page_pipe</c>): page by page in pagemap order, PE_PARENT pages skipped, lazy and non-lazy pages in separate
/// buffers; a page extends the current iov when it directly follows it; a lazy pipe holds at most
/// <see cref="PipePages"/> pages (PIPE_MAX_SIZE = 819 pages, which F_SETPIPE_SZ rounds to 4 MiB) and the next one starts
/// a new iov. A GET is answered up to the end of the iov holding its first page (criu/page-pipe.c <c>page_pipe_read</c>).
/// <para>
/// So adjacent lazy pagemap entries merge (a dump's 251 + 5 page entries are one 256-page run), and runs are cut every
/// 1024 lazy pages of a task, counted across runs. Verified against CRIU 4.2's page-server: 300 pages asked at the
/// start of 251 + 5 entries returned 256; 2000 asked over a 1280-page area after 3 lazy pages returned 1021, then 259.
/// PE_LAZY pages without PE_PRESENT (a lazy dump's images) are kept apart: this server has no bytes for them.
/// </para>
/// Immutable and thread-safe once built.
/// </summary>
public sealed class LazyPagesIndex
{
    /// <summary>Pages one lazy page pipe holds when CRIU can serve at all (its 4 MiB reply pipe needs the same limit).</summary>
    public const int PipePages = 1024;

    private const int PageShift = 12;

    private readonly Checkpoint _checkpoint;
    private readonly Dictionary<int, ServedRun[]> _runsByPid;

    private LazyPagesIndex(Checkpoint checkpoint, Dictionary<int, ServedRun[]> runsByPid)
    {
        _checkpoint = checkpoint;
        _runsByPid = runsByPid;
    }

    /// <summary>Pids with memory to serve (zombies have none).</summary>
    public IEnumerable<int> Pids => _runsByPid.Keys;

    /// <summary>Indexes every task of <paramref name="checkpoint"/> that has a pagemap.</summary>
    public static LazyPagesIndex Build(Checkpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var runs = new Dictionary<int, ServedRun[]>();
        foreach (var task in checkpoint.Tasks)
        {
            if (task.PagemapFile is not null)
            {
                runs[task.Pid] = CutRuns(task.Pagemap);
            }
        }

        return new LazyPagesIndex(checkpoint, runs);
    }

    /// <summary>The served runs of <paramref name="pid"/> in address order (empty for an unknown pid).</summary>
    public IReadOnlyList<ServedRun> RunsOf(int pid) => _runsByPid.TryGetValue(pid, out var runs) ? runs : [];

    /// <summary>
    /// What to answer a GET for <paramref name="nrPages"/> pages of <paramref name="dstId"/> (the raw pid) from
    /// <paramref name="vaddr"/>: the pages clamped to the end of the run holding <paramref name="vaddr"/>, or why none.
    /// </summary>
    public PageLookup Find(ulong dstId, ulong vaddr, ulong nrPages)
    {
        if (dstId == 0 || dstId > int.MaxValue || !_runsByPid.TryGetValue((int)dstId, out var runs))
        {
            return new PageLookup(PageLookupResult.UnknownTask, 0, 0, -1);
        }

        int pid = (int)dstId;
        if (nrPages == 0)
        {
            return new PageLookup(PageLookupResult.ZeroPages, pid, 0, -1);
        }

        if (vaddr % PageGeometry.PageSize != 0)
        {
            return new PageLookup(PageLookupResult.Unaligned, pid, 0, -1);
        }

        int index = FindRun(runs, vaddr);
        if (index < 0)
        {
            return new PageLookup(Classify(pid, vaddr), pid, 0, -1);
        }

        var run = runs[index];
        if (!run.HasData)
        {
            return new PageLookup(PageLookupResult.NoData, pid, 0, -1);
        }

        ulong available = (run.End - vaddr) >> PageShift;
        ulong pages = Math.Min(nrPages, available);
        return new PageLookup(PageLookupResult.Found, pid, pages, run.PagesFileOffset + (long)(vaddr - run.Vaddr));
    }

    /// <summary>The page-pipe model of one task's pagemap (see the type's summary).</summary>
    internal static ServedRun[] CutRuns(IReadOnlyList<PagemapRun> pagemap)
    {
        var runs = new List<ServedRun>();
        ServedRun? current = null;
        int inPipe = 0;
        foreach (var entry in pagemap)
        {
            if ((entry.Flags & PageFlags.Parent) != 0 || entry.NrPages == 0)
            {
                continue; // a hole: CRIU adds no page to the pipe
            }

            if (!entry.IsLazy)
            {
                Close(ref current, runs); // a non-lazy buffer comes between: the next lazy page opens a new iov
                continue;
            }

            ulong address = entry.Vaddr;
            ulong left = entry.NrPages;
            long offset = entry.IsPresent ? entry.PagesFileOffset : -1;
            while (left > 0)
            {
                if (inPipe == PipePages)
                {
                    Close(ref current, runs);
                    inPipe = 0;
                }

                ulong take = Math.Min(left, (ulong)(PipePages - inPipe));
                if (current is { } open && open.End == address && open.HasData == (offset >= 0))
                {
                    current = open with { NrPages = open.NrPages + take };
                }
                else
                {
                    Close(ref current, runs);
                    current = new ServedRun(address, take, offset);
                }

                inPipe += (int)take;
                address += take << PageShift;
                left -= take;
                if (offset >= 0)
                {
                    offset += (long)(take << PageShift);
                }
            }
        }

        Close(ref current, runs);
        return [.. runs];
    }

    private static void Close(ref ServedRun? current, List<ServedRun> runs)
    {
        if (current is { } run)
        {
            runs.Add(run);
            current = null;
        }
    }

    private static int FindRun(ServedRun[] runs, ulong address)
    {
        int lo = 0;
        int hi = runs.Length - 1;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (address < runs[mid].Vaddr)
            {
                hi = mid - 1;
            }
            else if (address >= runs[mid].End)
            {
                lo = mid + 1;
            }
            else
            {
                return mid;
            }
        }

        return -1;
    }

    private PageLookupResult Classify(int pid, ulong vaddr)
    {
        var task = _checkpoint.GetTask(pid);
        int index = task.FindRun(vaddr);
        if (index < 0)
        {
            return PageLookupResult.NotDumped;
        }

        var entry = task.Pagemap[index];
        return (entry.Flags & PageFlags.Parent) != 0 ? PageLookupResult.InParent
            : !entry.IsLazy ? PageLookupResult.NotLazy
            : PageLookupResult.NoData;
    }
}
