using Akka.Actor;
using Akka.Event;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Faults;
using LazyActors.Engine.Images;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Actors;

/// <summary>
/// The one page cache of a restore. It turns <see cref="Fetch"/> requests from task actors into reads
/// on an <see cref="IPageSource"/>: fault requests always before background ones (and read with
/// <see cref="ReadPriority.Fault"/>, so a remote source sends them ahead of background data), a request inside a read already in
/// flight joins it, requests queued together for the same pid are coalesced into few reads (PageRunCoalescer), many
/// reads run at once and complete in any order. Each requester gets a <see cref="PageData"/> it must dispose.
/// </summary>
/// <remarks>
/// <para>One phase: it serves until the restore ends. Data sent to a task actor that stopped meanwhile comes back to it
/// as a dead letter and is released here.</para>
/// <para>A read that fails, or whose data does not cover exactly what was asked (wrong address or length), is issued
/// again after a short backoff, at most <see cref="MaxReadAttempts"/> times (counted in
/// <see cref="EngineStatistics.ReadRetries"/>); then its requesters get <see cref="FetchFailed"/>. A source that says it
/// does not hold the pages (<see cref="PageDataUnavailableException"/>) is not asked again. If the actor itself throws,
/// the supervisor restarts it and every request it held (queued, or waiting on a read) is sent again to the new
/// instance, so no requester waits forever; replies to the old instance's reads are released.</para>
/// </remarks>
public sealed class PageCacheActor : EngineActor, IWithTimers
{
    /// <summary>Props of the cache over <paramref name="source"/>.</summary>
    public static Props Props(IPageSource source, EngineSettings settings, EngineStatistics statistics, FaultInjector? faults = null) =>
        Akka.Actor.Props.Create(() => new PageCacheActor(source, settings, statistics, faults)).WithDispatcher(EngineSettings.DispatcherId);

    /// <summary>A read is issued at most this many times before its requesters are told it failed.</summary>
    public const int MaxReadAttempts = 4;

    /// <summary>Asks for <paramref name="Pages"/> pages of <paramref name="Pid"/> at dump address <paramref name="DumpAddress"/>.
    /// The reply (<see cref="Fetched"/> or <see cref="FetchFailed"/>) goes to the sender and carries <paramref name="RequestId"/>.</summary>
    public sealed record Fetch(int Pid, ulong DumpAddress, int Pages, ReadPriority Priority, long RequestId)
        : INoSerializationVerificationNeeded
    {
        /// <summary>
        /// Read these pages on their own even when a read in flight holds them (a fault that must not wait for a big
        /// background read; see <see cref="EngineSettings.FaultOvertakesBackgroundReads"/>).
        /// </summary>
        public bool Overtake { get; init; }
    }

    /// <summary>The data of request <paramref name="RequestId"/>; the receiver disposes <paramref name="Data"/>.</summary>
    public sealed record Fetched(long RequestId, PageData Data) : INoSerializationVerificationNeeded;

    /// <summary>Request <paramref name="RequestId"/> cannot be served.</summary>
    public sealed record FetchFailed(long RequestId, ulong DumpAddress, int Pages, Exception Error) : INoSerializationVerificationNeeded;

    private const int MaxBatch = 256;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IPageSource _source;
    private readonly EngineStatistics _statistics;
    private readonly int _maxReads;
    private readonly uint _maxRunPages;
    private readonly Queue<Waiter> _faults = new();
    private readonly Queue<Waiter> _background = new();
    private readonly Dictionary<int, List<Run>> _inFlight = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Waiter> _batch = [];
    private readonly HashSet<Run> _retrying = [];
    private readonly FaultInjector? _injector;
    private int _reads;
    private bool _drainScheduled;

    /// <summary>Use <see cref="Props"/>.</summary>
    public PageCacheActor(IPageSource source, EngineSettings settings, EngineStatistics statistics, FaultInjector? faults = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _source = source;
        _injector = faults;
        _statistics = statistics;
        _maxReads = settings.MaxConcurrentReads;
        _maxRunPages = (uint)(settings.ChunkMaxBytes >> PageGeometry.PageShift);

        Receive<Fetch>(OnFetch);
        Receive<Drain>(_ =>
        {
            _drainScheduled = false;
            DrainQueues();
        });
        Receive<ReadDone>(done => OnReadDone(done.Run, done.Read));
        Receive<ReadFailed>(failed => OnReadFailed(failed.Run, failed.Error));
        Receive<RetryRead>(retry => StartRead(retry.Run));
        Receive<DeadLetter>(OnDeadLetter);
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <inheritdoc />
    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(DeadLetter));

    /// <inheritdoc />
    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        _stopping.Cancel();
        _stopping.Dispose();
    }

    /// <summary>
    /// Restarted after an exception: every request this instance held goes to the new one, from the same requester,
    /// ahead of nothing (the mailbox keeps its order), the one being handled included. Partial data is released; the
    /// reads still running are abandoned (their replies find no run in the new instance and are released).
    /// </summary>
    protected override void PreRestart(Exception reason, object message)
    {
        var resent = new HashSet<Waiter>();
        var waiters = _faults.Concat(_background).Concat(_inFlight.Values.SelectMany(runs => runs).SelectMany(run => run.Waiters)).Concat(_retrying.SelectMany(run => run.Waiters));
        foreach (var waiter in waiters)
        {
            if (waiter.Failed || !resent.Add(waiter))
            {
                continue;
            }

            foreach (var lease in waiter.Leases)
            {
                lease.Release();
            }

            waiter.Leases.Clear();
            Self.Tell(waiter.Fetch, waiter.ReplyTo);
        }

        if (message is Fetch fetch)
        {
            Self.Tell(fetch, Sender);
        }

        base.PreRestart(reason, message);
    }

    private void OnFetch(Fetch fetch)
    {
        _injector?.ThrowIfFires(FaultPoint.PageCacheThrows, "the page cache (a fetch request)");
        var waiter = new Waiter(Sender, fetch);
        if (TryJoinInFlight(waiter))
        {
            _statistics.CountDeduplicated();
            return;
        }

        (fetch.Priority == ReadPriority.Fault ? _faults : _background).Enqueue(waiter);
        if (!_drainScheduled)
        {
            // Drain after the messages already queued, so requests that arrived together are coalesced.
            _drainScheduled = true;
            Self.Tell(Drain.Instance);
        }
    }

    private bool TryJoinInFlight(Waiter waiter)
    {
        if (waiter.Fetch.Overtake || !_inFlight.TryGetValue(waiter.Fetch.Pid, out var runs))
        {
            return false;
        }

        foreach (var run in runs)
        {
            if (run.DumpAddress <= waiter.Fetch.DumpAddress && waiter.End <= run.End)
            {
                waiter.RunsLeft = 1;
                run.Waiters.Add(waiter);
                return true;
            }
        }

        return false;
    }

    /// <summary>Starts reads, fault requests first, while fewer than the maximum are in flight.</summary>
    private void DrainQueues()
    {
        while (_reads < _maxReads && (_faults.Count > 0 || _background.Count > 0))
        {
            var priority = _faults.Count > 0 ? ReadPriority.Fault : ReadPriority.Background;
            var queue = priority == ReadPriority.Fault ? _faults : _background;
            _batch.Clear();
            while (_batch.Count < MaxBatch && queue.TryDequeue(out var waiter))
            {
                if (!TryJoinInFlight(waiter))
                {
                    _batch.Add(waiter);
                }
                else
                {
                    _statistics.CountDeduplicated();
                }
            }

            foreach (var group in _batch.GroupBy(w => w.Fetch.Pid))
            {
                StartRuns(group.Key, [.. group], priority);
            }
        }
    }

    private void StartRuns(int pid, Waiter[] waiters, ReadPriority priority)
    {
        var requests = new PageRequest[waiters.Length];
        for (var i = 0; i < waiters.Length; i++)
        {
            requests[i] = new PageRequest(waiters[i].Fetch.DumpAddress, (uint)waiters[i].Fetch.Pages);
        }

        var count = PageRunCoalescer.SortAndCoalesce(requests, _maxRunPages);
        if (count < waiters.Length)
        {
            _statistics.CountCoalesced(waiters.Length - count);
        }

        var runs = new Run[count];
        for (var i = 0; i < count; i++)
        {
            runs[i] = new Run(pid, requests[i].DumpAddress, (int)requests[i].Pages, priority);
        }

        // Runs are sorted and disjoint; a waiter may span several of them (never read twice).
        foreach (var waiter in waiters)
        {
            foreach (var run in runs)
            {
                if (run.DumpAddress < waiter.End && waiter.Fetch.DumpAddress < run.End)
                {
                    run.Waiters.Add(waiter);
                    waiter.RunsLeft++;
                }
            }
        }

        foreach (var run in runs)
        {
            StartRead(run);
        }
    }

    private void StartRead(Run run)
    {
        if (run.Attempts > 0 && !_retrying.Remove(run))
        {
            return; // a retry scheduled by an instance before a restart
        }

        _reads++;
        if (!_inFlight.TryGetValue(run.Pid, out var list))
        {
            _inFlight[run.Pid] = list = [];
        }

        list.Add(run);
        ValueTask<PageRead> pending;
        try
        {
            pending = _source.ReadAsync(run.Pid, run.DumpAddress, run.Pages, run.Priority, _stopping.Token);
        }
        catch (Exception ex)
        {
            OnReadFailed(run, ex);
            return;
        }

        if (pending.IsCompletedSuccessfully)
        {
            OnReadDone(run, pending.Result);
            return;
        }

        var self = Self;
        _ = CompleteAsync(pending, run, self);
    }

    private static async Task CompleteAsync(ValueTask<PageRead> pending, Run run, IActorRef self)
    {
        try
        {
            var read = await pending.ConfigureAwait(false);
            self.Tell(new ReadDone(run, read));
        }
        catch (Exception ex)
        {
            self.Tell(new ReadFailed(run, ex));
        }
    }

    private void OnReadDone(Run run, PageRead read)
    {
        if (!Forget(run))
        {
            // A read of an instance before a restart: its requests were sent again.
            read.Dispose();
            return;
        }

        if (Mismatch(run, read) is { } mismatch)
        {
            read.Dispose();
            RetryOrFail(run, new InvalidDataException(mismatch));
            return;
        }

        _statistics.CountRead(run.Pages, read.IsZeroCopy, _source.IsCacheLayer);
        var shared = new SharedPageRead(read);
        foreach (var waiter in run.Waiters)
        {
            if (waiter.Failed)
            {
                continue;
            }

            shared.AddReference();
            waiter.Leases.Add(shared);
            if (--waiter.RunsLeft == 0)
            {
                Deliver(waiter);
            }
        }

        shared.Release();
        DrainQueues();
    }

    private void Deliver(Waiter waiter)
    {
        PageData data;
        try
        {
            data = new PageData(waiter.Fetch.DumpAddress, waiter.Fetch.Pages, waiter.Leases);
        }
        catch (ArgumentException ex)
        {
            Fail(waiter, ex);
            return;
        }

        waiter.ReplyTo.Tell(new Fetched(waiter.Fetch.RequestId, data), Self);
    }

    private void OnReadFailed(Run run, Exception error)
    {
        if (Forget(run))
        {
            RetryOrFail(run, error);
        }
    }

    /// <summary>
    /// What is wrong with <paramref name="read"/> as the data of <paramref name="run"/>, or null: the segments must
    /// cover the run's dump range, in order and without gaps (what can be checked without knowing the bytes).
    /// </summary>
    private static string? Mismatch(Run run, PageRead read)
    {
        var cursor = run.DumpAddress;
        var segments = read.Segments;
        for (var i = 0; i < segments.Count; i++)
        {
            // Indexed, not foreach: no enumerator is allocated on the read path.
            var segment = segments[i];
            if (segment.DumpAddress > cursor || segment.Pages <= 0)
            {
                break;
            }

            cursor = Math.Max(cursor, segment.DumpEnd);
        }

        return cursor >= run.End
            ? null
            : $"the page source answered the read of pid {run.Pid} at 0x{run.DumpAddress:x} ({run.Pages} pages) with data for "
              + string.Join(", ", read.Segments.Select(s => $"0x{s.DumpAddress:x}+{s.Pages}p"));
    }

    /// <summary>A failed or malformed read: issued again after a short backoff, up to <see cref="MaxReadAttempts"/>
    /// times; then, or when the source does not hold the pages, its requesters are told.</summary>
    private void RetryOrFail(Run run, Exception error)
    {
        run.Attempts++;
        if (error is not PageDataUnavailableException && !_stopping.IsCancellationRequested && run.Attempts < MaxReadAttempts)
        {
            _statistics.CountReadRetry();
            _log.Warning("read of pid {Pid} at 0x{DumpAddress:x} ({Pages} pages) failed (attempt {Attempt} of {Max}), reading it again: {Error}",
                run.Pid, run.DumpAddress, run.Pages, run.Attempts, MaxReadAttempts, error.Message);
            _retrying.Add(run);
            Timers.StartSingleTimer(run, new RetryRead(run), TimeSpan.FromMilliseconds(5 << run.Attempts));
            DrainQueues();
            return;
        }

        Metrics.EngineMeters.CountError("read-failed");
        _log.Warning("read of pid {Pid} at 0x{DumpAddress:x} ({Pages} pages) failed: {Error}", run.Pid, run.DumpAddress, run.Pages, error.Message);
        foreach (var waiter in run.Waiters)
        {
            Fail(waiter, error);
        }

        DrainQueues();
    }

    private void Fail(Waiter waiter, Exception error)
    {
        if (waiter.Failed)
        {
            return;
        }

        waiter.Failed = true;
        foreach (var lease in waiter.Leases)
        {
            lease.Release();
        }

        waiter.Leases.Clear();
        waiter.ReplyTo.Tell(new FetchFailed(waiter.Fetch.RequestId, waiter.Fetch.DumpAddress, waiter.Fetch.Pages, error), Self);
    }

    /// <summary>The run's read ended; false when this instance never started it (a read from before a restart).</summary>
    private bool Forget(Run run)
    {
        if (!_inFlight.TryGetValue(run.Pid, out var list) || !list.Remove(run))
        {
            return false;
        }

        _reads--;
        if (list.Count == 0)
        {
            _inFlight.Remove(run.Pid);
        }

        return true;
    }

    /// <summary>Data sent to a task actor that stopped meanwhile: release it, or its buffers would leak.</summary>
    private static void OnDeadLetter(DeadLetter letter)
    {
        if (letter.Message is Fetched fetched)
        {
            fetched.Data.Dispose();
        }
    }

    private sealed class Waiter(IActorRef replyTo, Fetch fetch)
    {
        public IActorRef ReplyTo { get; } = replyTo;

        public Fetch Fetch { get; } = fetch;

        public ulong End { get; } = fetch.DumpAddress + ((ulong)fetch.Pages << PageGeometry.PageShift);

        public List<SharedPageRead> Leases { get; } = new(1);

        public int RunsLeft { get; set; }

        public bool Failed { get; set; }
    }

    private sealed class Run(int pid, ulong dumpAddress, int pages, ReadPriority priority)
    {
        public ReadPriority Priority { get; } = priority;

        public int Pid { get; } = pid;

        public ulong DumpAddress { get; } = dumpAddress;

        public int Pages { get; } = pages;

        public ulong End { get; } = dumpAddress + ((ulong)pages << PageGeometry.PageShift);

        public List<Waiter> Waiters { get; } = [];

        /// <summary>Reads of this run that failed so far.</summary>
        public int Attempts { get; set; }
    }

    private sealed class Drain : INoSerializationVerificationNeeded
    {
        public static readonly Drain Instance = new();
    }

    private sealed record ReadDone(Run Run, PageRead Read) : INoSerializationVerificationNeeded;

    private sealed record ReadFailed(Run Run, Exception Error) : INoSerializationVerificationNeeded;

    private sealed record RetryRead(Run Run) : INoSerializationVerificationNeeded;
}
