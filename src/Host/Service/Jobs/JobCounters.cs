using LazyActors.Engine.Actors;
using LazyActors.Engine.Pages;

namespace LazyActors.Host.Service.Jobs;

/// <summary>
/// One job's own traffic, whoever else reads the same checkpoint: bytes it made the service read from the source, its
/// shared page cache hits and misses, and the pages copied into its tasks by fault and by the background push. Jobs of
/// one checkpoint share the cache and (remote) one page-server session, so the session's and the cache's totals cannot
/// be split after the fact; these are counted per restore as it reads.
/// </summary>
/// <param name="BytesFromSource">Read from the images or the page server for this job: its cache misses when it reads
/// through the cache, else everything it read.</param>
/// <param name="CacheHits">Pages the cache served it without reading the source.</param>
/// <param name="CacheMisses">Pages the cache read from the source at its request.</param>
/// <param name="PagesByFault">Pages copied into its tasks to serve a fault.</param>
/// <param name="PagesByPush">Pages copied into its tasks by the background push.</param>
public sealed record JobCounters(long BytesFromSource, long CacheHits, long CacheMisses, long PagesByFault, long PagesByPush)
{
    /// <summary>The counts now, from the job's engine statistics and its view of the cache (null: no cache).</summary>
    public static JobCounters Of(EngineStatistics statistics, PageCacheCounters? cache)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        var tasks = statistics.Tasks;
        return new JobCounters(
            statistics.SourceBytes + (cache?.MissBytes ?? 0),
            cache?.HitPages ?? 0,
            cache?.MissPages ?? 0,
            tasks.Sum(t => t.CopiedByFaults),
            tasks.Sum(t => t.CopiedByPusher));
    }
}
