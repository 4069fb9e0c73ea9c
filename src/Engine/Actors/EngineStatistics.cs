using System.Collections.Concurrent;
using LazyActors.Engine.Metrics;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Live statistics of one restore, readable from any thread while the engine runs and after it finished: one
/// <see cref="TaskProgress"/> per task and fork child, plus page-cache counters.
/// </summary>
public sealed class EngineStatistics
{
    private readonly ConcurrentQueue<TaskProgress> _tasks = new();
    private long _reads;
    private long _pagesRead;
    private long _sourceBytes;
    private long _deduplicated;
    private long _coalesced;
    private long _zeroCopyReads;
    private int _phase;
    private long _actorRestarts;
    private long _readRetries;
    private long _copyRetries;
    private long _overtakingFaults;

    /// <summary>Statistics of a restore; <paramref name="recordsMeters"/> false keeps its counts out of the process-wide
    /// <see cref="EngineMeters"/> (the JIT warm-up's stand-in restore is no restore anyone asked for).</summary>
    public EngineStatistics(bool recordsMeters = true) => RecordsMeters = recordsMeters;

    /// <summary>Whether this restore's counts also go to the process-wide meters.</summary>
    internal bool RecordsMeters { get; }

    /// <summary>Every task and fork child seen so far, in arrival order.</summary>
    public IReadOnlyList<TaskProgress> Tasks => [.. _tasks];

    /// <summary>Reads issued to the page source.</summary>
    public long Reads => Volatile.Read(ref _reads);

    /// <summary>Pages read from the page source.</summary>
    public long PagesRead => Volatile.Read(ref _pagesRead);

    /// <summary>Bytes this restore read from its page source itself (local images or its own page-server session); reads
    /// through the shared page cache are not counted here: the cache counts what it reads for each restore
    /// (<see cref="Pages.IPageSource.CacheCounters"/>).</summary>
    public long SourceBytes => Volatile.Read(ref _sourceBytes);

    /// <summary>Reads served without copying (mapping of the pages files).</summary>
    public long ZeroCopyReads => Volatile.Read(ref _zeroCopyReads);

    /// <summary>Requests answered by a read already in flight.</summary>
    public long Deduplicated => Volatile.Read(ref _deduplicated);

    /// <summary>Faults that read their page on their own instead of waiting for its background read
    /// (<see cref="Configuration.EngineSettings.FaultOvertakesBackgroundReads"/>).</summary>
    public long OvertakingFaults => Volatile.Read(ref _overtakingFaults);

    /// <summary>Requests merged into another's read.</summary>
    public long Coalesced => Volatile.Read(ref _coalesced);

    /// <summary>The daemon's CPU by thread when the restore's outcome was known, before its threads stopped (null until then).</summary>
    public Diagnostics.ThreadCpu? ThreadCpuAtEnd { get; internal set; }

    /// <summary>The remote page source's counters (zero and null in a local restore).</summary>
    public Remote.RemoteStatistics Remote { get; } = new();

    /// <summary>Total faults over all tasks.</summary>
    public long Faults => Tasks.Sum(t => t.Faults);

    /// <summary>How far the restore got.</summary>
    public RestorePhase Phase => (RestorePhase)Volatile.Read(ref _phase);

    /// <summary>Latency of every fault served (from the reader reading it to the copy that woke its thread).</summary>
    public FaultLatencyHistogram FaultLatency { get; } = new();

    internal TaskProgress AddTask(TaskProgress progress)
    {
        progress.Latencies = FaultLatency;
        progress.RecordsMeters = RecordsMeters;
        _tasks.Enqueue(progress);
        return progress;
    }

    internal void SetPhase(RestorePhase phase) => Volatile.Write(ref _phase, (int)phase);

    /// <param name="pages">Pages read.</param>
    /// <param name="zeroCopy">Served from a mapping of the images.</param>
    /// <param name="fromCacheLayer">Answered by the shared page cache, which counts what it reads from the source below
    /// it itself (<see cref="Pages.IPageSource.IsCacheLayer"/>): not counted again as bytes from the source.</param>
    internal void CountRead(long pages, bool zeroCopy, bool fromCacheLayer)
    {
        Interlocked.Increment(ref _reads);
        Interlocked.Add(ref _pagesRead, pages);
        if (!fromCacheLayer)
        {
            Interlocked.Add(ref _sourceBytes, pages << Ranges.PageGeometry.PageShift);
        }

        if (RecordsMeters && !fromCacheLayer)
        {
            EngineMeters.SourceBytes.Add(pages << Ranges.PageGeometry.PageShift);
        }

        if (zeroCopy)
        {
            Interlocked.Increment(ref _zeroCopyReads);
        }
    }

    /// <summary>Actors of the restore restarted after an exception (each with its work in flight re-issued).</summary>
    public long ActorRestarts => Volatile.Read(ref _actorRestarts);

    /// <summary>Page-source reads issued again after a failed or malformed read.</summary>
    public long ReadRetries => Volatile.Read(ref _readRetries);

    /// <summary>Copies retried after a transient errno other than EAGAIN (ENOMEM, or ESRCH from a task whose memory is
    /// still there).</summary>
    public long CopyRetries => Volatile.Read(ref _copyRetries);

    /// <summary>The restore's fault injector (tests only), or null.</summary>
    public Faults.FaultInjector? FaultInjector { get; internal set; }

    internal void CountActorRestart(string actor)
    {
        Interlocked.Increment(ref _actorRestarts);
        if (RecordsMeters)
        {
            EngineMeters.CountRecovery($"restart-{actor}");
        }
    }

    internal void CountReadRetry()
    {
        Interlocked.Increment(ref _readRetries);
        if (RecordsMeters)
        {
            EngineMeters.CountRecovery("read-retry");
        }
    }

    internal void CountCopyRetry()
    {
        Interlocked.Increment(ref _copyRetries);
        if (RecordsMeters)
        {
            EngineMeters.CountRecovery("copy-retry");
        }
    }

    internal void CountDeduplicated() => Interlocked.Increment(ref _deduplicated);

    internal void CountOvertakingFault() => Interlocked.Increment(ref _overtakingFaults);

    internal void CountCoalesced(long requests) => Interlocked.Add(ref _coalesced, requests);
}
