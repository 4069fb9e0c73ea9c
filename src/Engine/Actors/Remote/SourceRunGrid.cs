using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Actors.Remote;

/// <summary>
/// Where the source's runs end, learnt from its short replies, so the fetcher cuts its requests there itself.
/// </summary>
/// <remarks>
/// CRIU's page servers (and ours, which answers as they do: <see cref="LazyPagesIndex"/>) clamp a GET at the end of the
/// page-pipe iov holding its first page, and cut those iovs every <see cref="LazyPagesIndex.PipePages"/> lazy pages of
/// a task. A 4 MiB background read that starts anywhere but on that grid therefore comes back short, and its rest is
/// asked only then: behind every byte already on the FIFO connection (up to bulk-in-flight, tens of milliseconds), while
/// the read's whole buffer waits, and a fault that joined the read waits with it. A short reply tells where a run
/// ended, and inside one lazy area the next ends follow every <see cref="LazyPagesIndex.PipePages"/> pages; with that
/// phase known, a piece is cut at the next end and both parts go on the wire together. A wrong guess (another area,
/// whose phase differs) costs one more GET and is corrected by the next short reply; correctness never depends on it
/// (short replies are still asked again, as before).
/// </remarks>
internal sealed class SourceRunGrid
{
    private const long PeriodPages = LazyPagesIndex.PipePages;

    private readonly Dictionary<int, ulong> _knownEnd = [];

    /// <summary>A reply for <paramref name="pid"/> was short: a run of the source ends at <paramref name="end"/>.</summary>
    public void Learn(int pid, ulong end) => _knownEnd[pid] = end;

    /// <summary>
    /// <paramref name="pages"/>, or fewer so that a GET from <paramref name="address"/> stops at the next run end the
    /// grid expects (never fewer than one page).
    /// </summary>
    public int Clamp(int pid, ulong address, int pages)
    {
        if (!_knownEnd.TryGetValue(pid, out var end))
        {
            return pages;
        }

        long offset = ((long)(address >> PageGeometry.PageShift) - (long)(end >> PageGeometry.PageShift)) % PeriodPages;
        if (offset < 0)
        {
            offset += PeriodPages;
        }

        return (int)Math.Min(pages, PeriodPages - offset);
    }
}
