namespace LazyActors.Engine.Pages;

/// <summary>
/// One restore's share of the <see cref="SharedPageCache"/>'s counts: the pages it got from the cache (held, or joined
/// while another restore's read was in flight) and the pages its own requests made the cache read from the source.
/// Restores of one checkpoint share one source (one page-server session), so the source's own counters cannot tell them
/// apart: these can. Readable from any thread while the restore runs and after it detached.
/// </summary>
public sealed class PageCacheCounters
{
    private long _hitPages;
    private long _missPages;

    /// <summary>Pages served from the cache without reading the source for this restore.</summary>
    public long HitPages => Interlocked.Read(ref _hitPages);

    /// <summary>Pages this restore's requests read from the source (each page of a checkpoint is a miss once, for the
    /// restore that asked for it first).</summary>
    public long MissPages => Interlocked.Read(ref _missPages);

    /// <summary>Bytes this restore's requests read from the source.</summary>
    public long MissBytes => MissPages << Ranges.PageGeometry.PageShift;

    internal void CountHits(long pages) => Interlocked.Add(ref _hitPages, pages);

    internal void CountMisses(long pages) => Interlocked.Add(ref _missPages, pages);
}
