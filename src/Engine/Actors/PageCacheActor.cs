using Akka.Actor;
using Akka.Event;
using LazyActors.Engine.Configuration;
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
/// One phase: it serves until the restore ends. Data sent to a task actor that stopped meanwhile comes back to it as a
/// dead letter and is released here.
/// </remarks>
public sealed class PageCacheActor : EngineActor
{
    /// <summary>Props of the cache over <paramref name="source"/>.</summary>
    public static Props Props(IPageSource source, EngineSettings settings, EngineStatistics statistics) =>
        Akka.Actor.Props.Create(() => new PageCacheActor(source, settings, statistics)).WithDispatcher(EngineSettings.DispatcherId);

    /// <summary>Asks for <paramref name="Pages"/> pages of <paramref name="Pid"/> at dump address <paramref name="DumpAddress"/>.
    /// The reply (<see cref="Fetched"/> or <see cref="FetchFailed"/>) goes to the sender and carries <paramref name="RequestId"/>.</summary>
    public sealed record Fetch(int Pid, ulong DumpAddress, int Pages, ReadPriority Priority, long RequestId)
        : INoSerializationVerificationNeeded;

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
    private int _reads;
    private bool _drainScheduled;

    /// <summary>Use <see cref="Props"/>.</summary>
    public PageCacheActor(IPageSource source, EngineSettings settings, EngineStatistics statistics)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _source = source;
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
        Receive<DeadLetter>(OnDeadLetter);
    }

    /// <inheritdoc />
    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(DeadLetter));

    /// <inheritdoc />
    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private void OnFetch(Fetch fetch)
    {
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
        if (!_inFlight.TryGetValue(waiter.Fetch.Pid, out var runs))
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
        Forget(run);
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
        Forget(run);
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

    private void Forget(Run run)
    {
        _reads--;
        if (_inFlight.TryGetValue(run.Pid, out var list))
        {
            list.Remove(run);
            if (list.Count == 0)
            {
                _inFlight.Remove(run.Pid);
            }
        }
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
    }

    private sealed class Drain : INoSerializationVerificationNeeded
    {
        public static readonly Drain Instance = new();
    }

    private sealed record ReadDone(Run Run, PageRead Read) : INoSerializationVerificationNeeded;

    private sealed record ReadFailed(Run Run, Exception Error) : INoSerializationVerificationNeeded;
}
