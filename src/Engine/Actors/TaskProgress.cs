using LazyActors.Engine.Metrics;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Live counters of one task, written by its UffdActor (a failure by the supervisor, since the actor is stopped by then)
/// and readable from any thread (progress display, summary).
/// </summary>
public sealed class TaskProgress
{
    private long _copiedByFaults;
    private long _copiedByPusher;
    private long _zeroPages;
    private long _faults;
    private int _restarts;
    private long _dropped;
    private long _lost;
    private int _phase;

    /// <summary>Creates the counters of task <paramref name="pid"/>.</summary>
    public TaskProgress(int pid, string label, long totalPages, bool isForkChild)
    {
        Pid = pid;
        Label = label;
        TotalPages = totalPages;
        IsForkChild = isForkChild;
    }

    /// <summary>The task's pid in the images (a fork child keeps its parent's).</summary>
    public int Pid { get; }

    /// <summary>Actor-friendly name (pid, plus a fork suffix for fork children).</summary>
    public string Label { get; }

    /// <summary>Lazy pages the task had to receive.</summary>
    public long TotalPages { get; }

    /// <summary>True for a child created by a FORK event.</summary>
    public bool IsForkChild { get; }

    /// <summary>Pages copied because a thread faulted on them (read-ahead included).</summary>
    public long CopiedByFaults => Volatile.Read(ref _copiedByFaults);

    /// <summary>Pages copied by background chunks.</summary>
    public long CopiedByPusher => Volatile.Read(ref _copiedByPusher);

    /// <summary>All pages copied (by faults, read-ahead and background; inherited counts of fork children excluded).</summary>
    public long CopiedPages => CopiedByFaults + CopiedByPusher;

    /// <summary>Zero pages installed for never-dumped lazy-capable memory.</summary>
    public long ZeroPages => Volatile.Read(ref _zeroPages);

    /// <summary>Page faults received.</summary>
    public long Faults => Volatile.Read(ref _faults);

    /// <summary>Pages dropped by REMOVE/UNMAP (or ENOENT).</summary>
    public long DroppedPages => Volatile.Read(ref _dropped);

    /// <summary>Pages whose data could not be placed and that no task event explains (see <see cref="Ranges.TaskRangeBook.Lose"/>).</summary>
    public long LostPages => Volatile.Read(ref _lost);

    /// <summary>Current phase.</summary>
    public TaskPhase Phase => (TaskPhase)Volatile.Read(ref _phase);

    /// <summary>Why the task stopped, when it failed or exited.</summary>
    public string? Reason { get; private set; }

    /// <summary>This task's own fault latencies (from the reader reading a fault to the copy that woke its thread), so
    /// that a task's slow first touches can be laid beside what the daemon saw of them.</summary>
    public FaultLatencyHistogram FaultLatency { get; } = new();

    /// <summary>The restore's fault-latency histogram this task records into (set when the task is added).</summary>
    internal FaultLatencyHistogram? Latencies { get; set; }

    /// <summary>Whether the counts also go to the process-wide meters (set when the task is added).</summary>
    internal bool RecordsMeters { get; set; } = true;

    internal void AddCopied(long pages, bool background)
    {
        if (background)
        {
            Interlocked.Add(ref _copiedByPusher, pages);
        }
        else
        {
            Interlocked.Add(ref _copiedByFaults, pages);
        }

        if (RecordsMeters)
        {
            EngineMeters.CountCopied(pages, background);
        }
    }

    internal void AddZeroPage() => Interlocked.Increment(ref _zeroPages);

    /// <summary>Times the task's actor was restarted after an exception.</summary>
    public int Restarts => Volatile.Read(ref _restarts);

    internal int AddRestart() => Interlocked.Increment(ref _restarts);

    internal void AddFault()
    {
        Interlocked.Increment(ref _faults);
        if (RecordsMeters)
        {
            EngineMeters.Faults.Add(1);
        }
    }

    /// <summary>A fault read at <paramref name="readTimestamp"/> (<see cref="System.Diagnostics.Stopwatch"/> ticks) is
    /// served: its thread was woken by the copy (or zero page) just made.</summary>
    internal void RecordFaultServed(long readTimestamp)
    {
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(readTimestamp);
        FaultLatency.Record(elapsed);
        Latencies?.Record(elapsed);
        if (RecordsMeters)
        {
            EngineMeters.FaultLatency.Record(elapsed.TotalSeconds);
            Diagnostics.StartupTrace.Mark(Diagnostics.StartupStep.FirstFaultServed);
        }
    }

    /// <summary>Publishes the task's dropped pages, which its <see cref="Ranges.TaskRangeBook"/> counts.</summary>
    internal void SetDropped(ulong pages) => Volatile.Write(ref _dropped, (long)pages);

    /// <summary>Publishes the task's lost pages, which its <see cref="Ranges.TaskRangeBook"/> counts.</summary>
    internal void SetLost(ulong pages) => Volatile.Write(ref _lost, (long)pages);

    internal void End(TaskPhase phase, string? reason)
    {
        if (phase == TaskPhase.Failed && RecordsMeters)
        {
            EngineMeters.CountError("task-failed");
        }

        Reason = reason;
        Volatile.Write(ref _phase, (int)phase);
    }
}
