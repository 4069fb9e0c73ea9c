using LazyActors.Engine;
using LazyActors.Engine.Actors;

namespace LazyActors.Host.Service.Jobs;

/// <summary>
/// One restore job of the service: its spec, its engine <see cref="Engine.Hosting.RestoreJob"/> and how it ended.
/// Its events are derived from the engine's live statistics whenever someone looks (<see cref="Observe"/>), so
/// watchers see the same ordered list however many there are. Thread-safe.
/// </summary>
public sealed class Job
{
    private const int MaxEvents = 2_000;
    private readonly Lock _gate = new();
    private readonly List<JobEvent> _events = [];
    private readonly Dictionary<string, TaskPhase> _taskPhases = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _cancel = new();
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private RestorePhase _observedPhase = RestorePhase.WaitingForRestorer;
    private long _sequence;
    private EngineResult? _result;
    private bool _cancelRequested;

    internal Job(string id, JobSpec spec, string workDirectory, string socketPath, string checkpoint, EngineStatistics statistics)
    {
        Id = id;
        Spec = spec;
        WorkDirectory = workDirectory;
        SocketPath = socketPath;
        Checkpoint = checkpoint;
        Statistics = statistics;
        Created = DateTimeOffset.UtcNow;
        Append("listening", $"listening on {socketPath}");
    }

    /// <summary>The job's id (also its actor name, so its engine log lines carry it).</summary>
    public string Id { get; }

    /// <summary>What it serves.</summary>
    public JobSpec Spec { get; }

    /// <summary>The work directory (absolute).</summary>
    public string WorkDirectory { get; }

    /// <summary>The socket it listens on.</summary>
    public string SocketPath { get; }

    /// <summary>The checkpoint's identity as shown.</summary>
    public string Checkpoint { get; }

    /// <summary>When it was started.</summary>
    public DateTimeOffset Created { get; }

    /// <summary>The engine's live counters.</summary>
    public EngineStatistics Statistics { get; }

    /// <summary>The job's own counts in the shared page cache, or null when it does not read through the cache.</summary>
    public Engine.Pages.PageCacheCounters? CacheCounters { get; init; }

    /// <summary>The job's own traffic now (<see cref="JobCounters"/>).</summary>
    public JobCounters Counters => JobCounters.Of(Statistics, CacheCounters);

    /// <summary>How the restore ended, once it did.</summary>
    public EngineResult? Result
    {
        get
        {
            lock (_gate)
            {
                return _result;
            }
        }
    }

    /// <summary>Completes when the job ended (never faults).</summary>
    public Task Ended => _ended.Task;

    /// <summary>Cancelled when the job must stop serving.</summary>
    internal CancellationToken CancellationToken => _cancel.Token;

    /// <summary>The state now.</summary>
    public JobState State
    {
        get
        {
            lock (_gate)
            {
                return StateLocked();
            }
        }
    }

    /// <summary>True once the job ended.</summary>
    public bool IsFinished => State is JobState.Completed or JobState.Failed or JobState.Cancelled;

    /// <summary>Time since the job was created, or its length once it ended.</summary>
    public TimeSpan Elapsed => Result?.Elapsed ?? DateTimeOffset.UtcNow - Created;

    /// <summary>Asks the job to stop serving (its restore ends with "cancelled").</summary>
    public void Cancel(string why)
    {
        lock (_gate)
        {
            if (_result is not null || _cancelRequested)
            {
                return;
            }

            _cancelRequested = true;
            Append("cancelling", why);
        }

        _cancel.Cancel();
    }

    /// <summary>Brings the events up to date with the engine's statistics.</summary>
    public void Observe()
    {
        lock (_gate)
        {
            ObserveLocked();
        }
    }

    /// <summary>The events after number <paramref name="after"/>, brought up to date first.</summary>
    public IReadOnlyList<JobEvent> EventsSince(long after)
    {
        lock (_gate)
        {
            ObserveLocked();
            return [.. _events.Where(e => e.Sequence > after)];
        }
    }

    /// <summary>Adds an event of <paramref name="kind"/> (what the engine's statistics cannot tell, such as a resume).</summary>
    internal void Note(string kind, string message)
    {
        lock (_gate)
        {
            Append(kind, message);
        }
    }

    internal void Finish(EngineResult result)
    {
        lock (_gate)
        {
            ObserveLocked();
            _result = result;
            var state = StateLocked();
            var kind = state switch
            {
                JobState.Completed => "completed",
                JobState.Cancelled => "cancelled",
                _ => "failed",
            };
            Append(kind, result.Succeeded
                ? $"every task is complete ({result.Statistics.Tasks.Sum(t => t.CopiedPages)} pages copied in {result.Elapsed.TotalSeconds:0.00} s)"
                : $"exit code {result.ExitCode}: {result.Error}");
        }

        _ended.TrySetResult();
    }

    private JobState StateLocked()
    {
        if (_result is { } result)
        {
            return result.Succeeded ? JobState.Completed : result.ExitCode == 130 ? JobState.Cancelled : JobState.Failed;
        }

        return Statistics.Phase switch
        {
            RestorePhase.ReceivingTasks => JobState.Restoring,
            RestorePhase.Serving or RestorePhase.Completed or RestorePhase.Failed => JobState.Serving,
            _ => JobState.Listening,
        };
    }

    private void ObserveLocked()
    {
        // In the order things happen even when looked at late: connected, tasks handed over, "restore finished", then
        // the tasks' ends.
        var phase = Statistics.Phase;
        if (_observedPhase < RestorePhase.ReceivingTasks && phase >= RestorePhase.ReceivingTasks)
        {
            Append("restorer-connected", "the restorer connected");
        }

        // One snapshot for both passes: a task added between them (the restorer sends them while we look) would have
        // no phase recorded yet in the second.
        var tasks = Statistics.Tasks.ToArray();
        foreach (var task in tasks)
        {
            if (_taskPhases.TryAdd(task.Label, TaskPhase.Serving))
            {
                Append("task", $"{task.Label}: {task.TotalPages} lazy pages{(task.IsForkChild ? " (fork child)" : "")}");
            }
        }

        if (_observedPhase < RestorePhase.Serving && phase >= RestorePhase.Serving)
        {
            Append("restore-finished", $"restore finished; serving {tasks.Length} task(s)");
        }

        _observedPhase = phase > _observedPhase ? phase : _observedPhase;
        foreach (var task in tasks)
        {
            var now = task.Phase;
            var label = task.Label;
            if (now == _taskPhases.GetValueOrDefault(label, TaskPhase.Serving))
            {
                continue;
            }

            _taskPhases[label] = now;
            switch (now)
            {
                case TaskPhase.Complete:
                    Append("task-complete", $"{task.Label}: complete, {task.CopiedPages}/{task.TotalPages} pages ({task.Faults} faults)");
                    break;
                case TaskPhase.Exited:
                    Append("task-exited", $"{task.Label}: exited ({task.Reason})");
                    break;
                case TaskPhase.Failed:
                    Append("task-failed", $"{task.Label}: failed: {task.Reason}");
                    break;
            }
        }
    }

    private void Append(string kind, string message)
    {
        _events.Add(new JobEvent(++_sequence, DateTimeOffset.UtcNow, kind, message));
        if (_events.Count > MaxEvents)
        {
            _events.RemoveRange(0, _events.Count - MaxEvents);
        }
    }
}
