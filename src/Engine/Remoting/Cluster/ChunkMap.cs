using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Remoting.Cluster;

/// <summary>One chunk of a checkpoint's lazy pages: a task's pages at a dump-time address, and where a destination keeps them.</summary>
/// <param name="Pid">The task.</param>
/// <param name="Vaddr">Dump-time address of its first page.</param>
/// <param name="Pages">Pages (at most the map's chunk size; shorter at the end of a lazy range).</param>
/// <param name="StoreOffset">Byte offset in the destination's <see cref="ChunkStore"/>.</param>
public readonly record struct Chunk(int Pid, ulong Vaddr, int Pages, long StoreOffset)
{
    /// <summary>Bytes of the chunk.</summary>
    public long Bytes => (long)Pages << PageGeometry.PageShift;
}

/// <summary>
/// The fan-out unit of a cluster restore: every lazy range of every task cut into chunks of at most
/// <see cref="ChunkPages"/> pages, numbered in task then address order. Every destination of one checkpoint builds the
/// same map from the same description, so a chunk's number means the same pages on every node (the registry's held
/// bitmaps and the home assignment rely on it). A chunk never spans two lazy ranges.
/// </summary>
public sealed class ChunkMap
{
    private readonly Chunk[] _chunks;
    private readonly Dictionary<int, RangeIndex[]> _byPid;

    private ChunkMap(int chunkPages, Chunk[] chunks, Dictionary<int, RangeIndex[]> byPid, long totalBytes)
    {
        ChunkPages = chunkPages;
        _chunks = chunks;
        _byPid = byPid;
        TotalBytes = totalBytes;
    }

    /// <summary>The largest chunk, in pages.</summary>
    public int ChunkPages { get; }

    /// <summary>Chunks in the map.</summary>
    public int Count => _chunks.Length;

    /// <summary>Bytes of every lazy page (the store's size).</summary>
    public long TotalBytes { get; }

    /// <summary>Chunk <paramref name="index"/>.</summary>
    public Chunk this[int index] => _chunks[index];

    /// <summary>The map of <paramref name="checkpoint"/>'s lazy ranges in chunks of <paramref name="chunkPages"/> pages.</summary>
    public static ChunkMap Of(Checkpoint checkpoint, int chunkPages)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkPages, 1);
        var chunks = new List<Chunk>();
        var byPid = new Dictionary<int, RangeIndex[]>();
        long offset = 0;
        foreach (var task in checkpoint.Tasks)
        {
            var ranges = new List<RangeIndex>(task.LazyRanges.Count);
            foreach (var range in task.LazyRanges)
            {
                ranges.Add(new RangeIndex(range.Start, range.End, chunks.Count));
                for (ulong at = range.Start; at < range.End;)
                {
                    int pages = (int)Math.Min((ulong)chunkPages, PageGeometry.PagesIn(range.End - at));
                    chunks.Add(new Chunk(task.Pid, at, pages, offset));
                    offset += (long)pages << PageGeometry.PageShift;
                    at += (ulong)pages << PageGeometry.PageShift;
                }
            }

            ranges.Sort((a, b) => a.Start.CompareTo(b.Start));
            byPid[task.Pid] = [.. ranges];
        }

        return new ChunkMap(chunkPages, [.. chunks], byPid, offset);
    }

    /// <summary>
    /// The chunk holding page <paramref name="address"/> of <paramref name="pid"/> and the page's index within it;
    /// false when the page is in no lazy range of the map.
    /// </summary>
    public bool TryFind(int pid, ulong address, out int chunk, out int pageInChunk)
    {
        chunk = -1;
        pageInChunk = 0;
        if (!_byPid.TryGetValue(pid, out var ranges))
        {
            return false;
        }

        int lo = 0, hi = ranges.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var range = ranges[mid];
            if (address < range.Start)
            {
                hi = mid - 1;
            }
            else if (address >= range.End)
            {
                lo = mid + 1;
            }
            else
            {
                ulong page = PageGeometry.PagesIn(address - range.Start);
                chunk = range.FirstChunk + (int)(page / (ulong)ChunkPages);
                pageInChunk = (int)(page % (ulong)ChunkPages);
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Pages from <paramref name="address"/> (not in the map) up to the next mapped page of <paramref name="pid"/>, at
    /// most <paramref name="limit"/>.
    /// </summary>
    public int PagesUntilMapped(int pid, ulong address, int limit)
    {
        if (_byPid.TryGetValue(pid, out var ranges))
        {
            foreach (var range in ranges)
            {
                if (range.Start > address)
                {
                    return (int)Math.Min((ulong)limit, PageGeometry.PagesIn(range.Start - address));
                }
            }
        }

        return limit;
    }

    private readonly record struct RangeIndex(ulong Start, ulong End, int FirstChunk);
}
