using Akka.Actor;
using Akka.Event;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Faults;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Actors;

/// <summary>
/// The actor of one restored task (or fork child). It owns the task's userfaultfd and <see cref="TaskRangeBook"/>:
/// answers page faults (zero page, or the data from the page source then UFFDIO_COPY), applies FORK/REMAP/REMOVE/UNMAP,
/// copies the background chunks the <see cref="BackgroundPusherActor"/> asks for, and stops once the task is complete
/// or gone. The copying itself is <see cref="TaskCopyQueue"/>'s, the read-ahead <see cref="FaultLocality"/>'s and the
/// EAGAIN schedule <see cref="EagainRetryPolicy"/>'s; the actor routes messages and holds the phases.
/// </summary>
/// <remarks>
/// Phases: serving before "restore finished" (faults and events; a task is never complete before the restorer says
/// so, and a chunk that comes early waits for it) → serving after it (background chunks too; complete once nothing is
/// pending, in flight or queued) → ended (complete or gone: data still arriving is released, nothing is copied).
/// </remarks>
public sealed class UffdActor : EngineActor, IWithTimers, IWithStash
{
    /// <summary>Props of a task actor. Its parent (the supervisor) receives <see cref="TaskEnded"/> and <see cref="ForkChildBorn"/>.</summary>
    /// <param name="task">Who it serves and with what.</param>
    /// <param name="cache">The <see cref="PageCacheActor"/>.</param>
    /// <param name="pusher">The <see cref="BackgroundPusherActor"/> (receives chunk reports).</param>
    /// <param name="hub">Delivers the uffd's messages.</param>
    /// <param name="settings">Tuning.</param>
    /// <param name="direct">Optional fast path: pages this source hands out at once (zero-copy) skip the page cache.</param>
    /// <param name="statistics">Counters of direct reads (with <paramref name="direct"/>).</param>
    /// <param name="faults">The restore's fault injector (tests only), or null.</param>
    public static Props Props(TaskSpec task, IActorRef cache, IActorRef pusher, IUffdHub hub, EngineSettings settings,
        IPageSource? direct = null, EngineStatistics? statistics = null, FaultInjector? faults = null) =>
        Akka.Actor.Props.Create(() => new UffdActor(task, cache, pusher, hub, settings, direct, statistics, faults)).WithDispatcher(EngineSettings.DispatcherId);

    /// <summary>What a task actor starts with.</summary>
    /// <param name="Pid">Pid whose pages are fetched (a fork child uses its parent's).</param>
    /// <param name="Uffd">The task's userfaultfd; the actor owns and disposes it.</param>
    /// <param name="Book">Pending ranges (the actor owns it from now on).</param>
    /// <param name="Progress">Counters to update.</param>
    /// <param name="RestoreFinished">True when "restore finished" already arrived (fork children born after it).</param>
    public sealed record TaskSpec(int Pid, IUffd Uffd, TaskRangeBook Book, TaskProgress Progress, bool RestoreFinished)
        : INoSerializationVerificationNeeded
    {
        /// <summary>The task's dump-time VMA boundaries, which no copy crosses (a fork child shares its parent's).</summary>
        public VmaBoundaries Boundaries { get; init; } = VmaBoundaries.None;

        /// <summary>The task's pid as seen from here, when the restorer's tree could be followed; null otherwise.</summary>
        public int? HostPid { get; init; }

        /// <summary>
        /// Addresses (the first lazy page of every lazy-capable VMA) copied as soon as "restore finished" arrives, when
        /// the restorer must have registered every lazy VMA: a VMA it did not register shows at once as a lost page,
        /// even when nothing faults there and background transfer is off. Empty for fork children (the kernel copies
        /// their registrations).
        /// </summary>
        public IReadOnlyList<ulong> RegistrationChecks { get; init; } = [];

        /// <summary>The crash journal the task's progress and end are written to (with <see cref="JournalId"/>), or null.</summary>
        public CrashSafety.CrashJournal? Journal { get; init; }

        /// <summary>The uffd's id in <see cref="Journal"/>.</summary>
        public int JournalId { get; init; }
    }

    /// <summary>
    /// A batch of messages read from the uffd by the epoll reader, with the number of non-pagefault events among them:
    /// counted once, here, where the batch is made, and used both by the reader (the uffd gate holds copies back until
    /// that many events are applied) and by the actor (which acknowledges exactly that many).
    /// </summary>
    public sealed record Events : INoSerializationVerificationNeeded
    {
        private Events(UffdMsg[] messages, int nonPagefaultEvents)
        {
            Messages = messages;
            NonPagefaultEvents = nonPagefaultEvents;
            ReadTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        }

        /// <summary>When the reader read the batch (<see cref="System.Diagnostics.Stopwatch"/> ticks): a fault's latency
        /// is measured from here to the copy that wakes its thread.</summary>
        public long ReadTimestamp { get; }

        /// <summary>The messages, in the order they were read.</summary>
        public UffdMsg[] Messages { get; }

        /// <summary>FORK/REMAP/REMOVE/UNMAP (and unknown) events among <see cref="Messages"/>.</summary>
        public int NonPagefaultEvents { get; }

        /// <summary>Copies a batch that is only valid during the reader's callback, counting its events.</summary>
        public static Events Of(ReadOnlySpan<UffdMsg> batch)
        {
            var messages = batch.ToArray();
            var events = 0;
            foreach (ref readonly var message in messages.AsSpan())
            {
                if (message.Event != UffdEvent.Pagefault)
                {
                    events++;
                }
            }

            return new Events(messages, events);
        }
    }

    /// <summary>Reading the uffd failed (the reader stopped watching it).</summary>
    public sealed record ReadFailed(Exception Error) : INoSerializationVerificationNeeded;

    /// <summary>The restorer sent "restore finished": background chunks may come, and the task may complete.</summary>
    public sealed class RestoreFinished : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly RestoreFinished Instance = new();

        private RestoreFinished()
        {
        }
    }

    /// <summary>From the pusher: claim at most <paramref name="MaxBytes"/> of pending memory and copy it;
    /// <paramref name="Split"/>: the tree has fewer tasks than CPUs, so its slices may use the second copier.</summary>
    public sealed record PushChunk(ulong MaxBytes, bool Split = false) : INoSerializationVerificationNeeded;

    /// <summary>To the pusher: a chunk was copied (<paramref name="Pages"/> pages); faults seen since the previous report.</summary>
    public sealed record ChunkFinished(IActorRef Task, ulong Bytes, long Pages, int FaultsSince) : INoSerializationVerificationNeeded
    {
        /// <summary>Of <see cref="FaultsSince"/>, the faults of the run in order the task follows at the push front
        /// (<see cref="FaultLocality.FrontFaultsSinceChunk"/>; 0 when push-front following is off or the task is not
        /// reading in order): they do not make the next chunk small.</summary>
        public int FrontFaultsSince { get; init; }

        /// <summary>Of <see cref="FaultsSince"/>, the faults far from the previous one (scattered-fault-distance; 0
        /// when it is off): a task touching at random, whose faults do not make the next chunk small either.</summary>
        public int ScatteredFaultsSince { get; init; }
    }

    /// <summary>To the pusher: nothing pending any more (in-flight faults may still be completing).</summary>
    public sealed record NothingToPush(IActorRef Task, ulong Bytes) : INoSerializationVerificationNeeded;

    /// <summary>To the supervisor: the task needs no more service.</summary>
    public sealed record TaskEnded(int Pid, string Label, TaskPhase Phase, string? Reason) : INoSerializationVerificationNeeded;

    /// <summary>To the supervisor: a FORK event created a child uffd; spawn a task actor for it.</summary>
    public sealed record ForkChildBorn(int Pid, string ParentLabel, IUffd Uffd, TaskRangeBook Book, long TotalPages)
        : INoSerializationVerificationNeeded
    {
        /// <summary>The parent's dump-time VMA boundaries (the child's memory is a copy of the parent's).</summary>
        public VmaBoundaries Boundaries { get; init; } = VmaBoundaries.None;
    }

    /// <summary>
    /// From the supervisor when the page source is given up: reply with <see cref="Unserved"/>. Changes nothing (the
    /// uffd stays open: the tree is stopped before any task actor closes its uffd).
    /// </summary>
    public sealed class ReportUnserved : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly ReportUnserved Instance = new();

        private ReportUnserved()
        {
        }
    }

    /// <summary>What the task still lacked: pending and in-flight ranges (current addresses, with dump addresses).</summary>
    /// <param name="Pid">Pid whose pages it fetches.</param>
    /// <param name="Label">Task label (fork children have a suffix).</param>
    /// <param name="Ranges">Pending and in-flight ranges, sorted by address.</param>
    /// <param name="Pages">Their pages.</param>
    public sealed record Unserved(int Pid, string Label, IReadOnlyList<AddressRange> Ranges, ulong Pages) : INoSerializationVerificationNeeded;

    private const string CopyRetryTimer = "eagain-retry";
    private const string LivenessTimer = "liveness";

    /// <summary>ESRCH answers to UFFDIO_COPY that the liveness probe contradicts, retried before the task is taken as gone.</summary>
    private const int MaxUnconfirmedGone = 8;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly TaskSpec _task;
    private readonly int _pid;
    private readonly string _label;
    private readonly IUffd _uffd;
    private readonly TaskRangeBook _book;
    private readonly TaskProgress _progress;
    private readonly IActorRef _cache;
    private readonly IActorRef _pusher;
    private readonly IUffdHub _hub;
    private readonly IPageSource? _direct;
    private readonly EngineStatistics? _statistics;
    private readonly Dictionary<long, FetchRequest> _requests = [];
    private readonly TaskCopyQueue _copies;
    private readonly FaultLocality _locality;
    private readonly EagainRetryPolicy _retries;
    private readonly LivenessProbe _liveness;
    private readonly TimeSpan? _livenessInterval;
    private bool _continueScheduled;
    private bool _watching;
    private bool _ended;
    private long _nextRequestId;
    private long _activity;
    private long _activityAtLastProbe = -1;
    private long _batchReadTimestamp;
    private readonly List<(ulong DumpStart, ulong Pages)>? _progressLog;
    private long _progressFlushedAt;
    private readonly FaultInjector? _faults;
    private readonly ulong _chunkMaxBytes;
    private readonly ulong _overtakeWindowBytes;

    /// <summary>scattered-fault-window in bytes (0: off, or no scatter distance to tell scattered faults by).</summary>
    private readonly ulong _scatteredWindowBytes;

    /// <summary>Reused list of the pieces a scattered fault's window claims before its page.</summary>
    private readonly List<AddressRange> _windowPieces = [];
    private readonly ulong _prefetchBytes;
    private bool _restoreFinishedSeen;
    private int _goneUnconfirmed;
    // Set when chunks may be split while the task runs only sometimes (second-copier-while-task-runs = off or following).
    private readonly Scheduling.TaskRunState? _runState;
    private readonly Scheduling.SecondCopierWhileTaskRuns _splitRule;

    /// <summary>Use <see cref="Props"/>.</summary>
    public UffdActor(TaskSpec task, IActorRef cache, IActorRef pusher, IUffdHub hub, EngineSettings settings,
        IPageSource? direct, EngineStatistics? statistics, FaultInjector? faults = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(settings);
        _faults = faults;
        _chunkMaxBytes = (ulong)settings.ChunkMaxBytes;
        _overtakeWindowBytes = settings.FaultOvertakesBackgroundReads ? (ulong)settings.UrgentCopyWindowBytes : 0;
        _scatteredWindowBytes = settings.ScatteredFaultDistanceBytes is null ? 0 : (ulong)settings.EffectiveScatteredFaultWindowBytes;
        _prefetchBytes = (ulong)settings.PrefetchDuringRestoreBytes;
        _task = task;
        _pid = task.Pid;
        _label = task.Progress.Label;
        _uffd = task.Uffd;
        _book = task.Book;
        _progress = task.Progress;
        _cache = cache;
        _pusher = pusher;
        _hub = hub;
        _direct = direct;
        _statistics = statistics;
        _copies = new TaskCopyQueue(_pid, _label, _uffd, _book, _progress, (ulong)settings.CopySliceBytes,
            (ulong)settings.UrgentCopyWindowBytes, _log, task.Boundaries, (ulong)(settings.SecondCopierSliceBytes ?? 0));
        _locality = new FaultLocality((ulong)settings.FaultReadAheadMaxBytes, settings.PushFrontFollowing ? _chunkMaxBytes : 0,
            (ulong)settings.FaultReadAheadMinBytes, (ulong)(settings.ScatteredFaultDistanceBytes ?? 0));
        _retries = EagainRetryPolicy.From(settings);
        _liveness = new LivenessProbe(_uffd, _book);
        _livenessInterval = settings.LivenessProbeInterval;
        if (settings.SecondCopierWhileTaskRuns != Scheduling.SecondCopierWhileTaskRuns.Always && settings.SecondCopierSliceBytes is not null
            && task.HostPid is { } hostPid)
        {
            _runState = Scheduling.TaskRunState.Open(hostPid);
            _splitRule = settings.SecondCopierWhileTaskRuns;
        }
        if (task.Journal is not null && task.JournalId != 0)
        {
            _progressLog = [];
            _book.RecordCopiesInto(_progressLog);
        }

        if (task.RestoreFinished)
        {
            ServingAfterRestoreFinished();
        }
        else
        {
            ServingBeforeRestoreFinished();
        }
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <inheritdoc />
    public IStash Stash { get; set; } = null!;

    /// <inheritdoc />
    protected override void PreStart()
    {
        _hub.Watch(_uffd, Self);
        _watching = true;
        _log.Debug("{Task}: serving {Uffd} ({Book})", _label, _uffd, _book);
        if (_livenessInterval is { } interval)
        {
            Timers.StartPeriodicTimer(LivenessTimer, LivenessTick.Instance, interval);
        }
        if (_task.RestoreFinished)
        {
            CheckComplete();
        }
        else
        {
            PrefetchDuringRestore();
        }
    }

    /// <summary>
    /// Before "restore finished" (see <see cref="EngineSettings.PrefetchDuringRestoreBytes"/>): the first pending
    /// bytes of the task are claimed and read with background priority while `criu restore` still runs; their copies
    /// wait until "restore finished" (the restorer may still move the memory), and they are no chunks of the pusher.
    /// </summary>
    private void PrefetchDuringRestore()
    {
        if (_prefetchBytes == 0)
        {
            return;
        }

        _copies.HoldBackground = true;
        var claimed = 0UL;
        while (claimed < _prefetchBytes && _book.TryClaimBackground(Math.Min(_chunkMaxBytes, _prefetchBytes - claimed), out var range))
        {
            claimed += range.Length;
            RequestPages(range, background: true, budgetBytes: 0);
        }
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _copies.ReleaseAll();
        _runState?.Dispose();
        try
        {
            if (_watching)
            {
                _hub.Unwatch(_uffd);
            }

            _uffd.Dispose();
        }
        catch (Exception ex)
        {
            _log.Debug("{Task}: closing the uffd failed: {Error}", _label, ex.Message);
        }
    }

    /// <summary>
    /// Restarted after an exception (not a <see cref="TaskFailedException"/>): the uffd and the range book live in the
    /// <see cref="TaskSpec"/>, outside the instance, so they are kept (not closed, not unwatched; the hub keeps routing
    /// to this same actor). Queued copy data is released; the message being handled is sent again when it is safe to
    /// apply twice or was not applied (a batch that failed is only restarted when its events were not touched, see
    /// <see cref="OnEvents"/>); "restore finished" is sent again if it had come.
    /// </summary>
    protected override void PreRestart(Exception reason, object message)
    {
        _copies.ReleaseAll();
        switch (message)
        {
            case Events or RetryFault:
                Self.Tell(message);
                break;
            case PageCacheActor.Fetched fetched:
                fetched.Data.Dispose();
                break;
        }

        if (_restoreFinishedSeen || message is RestoreFinished)
        {
            Self.Tell(RestoreFinished.Instance);
        }
    }

    /// <summary>
    /// The new instance takes up the work in flight: every range the book has in flight (claimed by the old instance,
    /// whose requests and queued data are gone) is fetched again with fault priority, with request ids no reply to the
    /// old instance can match, and the pusher forgets the chunks the task had out.
    /// </summary>
    protected override void PostRestart(Exception reason)
    {
        _watching = true;
        var restarts = _progress.AddRestart();
        _nextRequestId = (long)restarts << 40;
        if (_livenessInterval is { } interval)
        {
            Timers.StartPeriodicTimer(LivenessTimer, LivenessTick.Instance, interval);
        }

        var reissued = 0;
        foreach (var range in _book.InFlight.ToArray())
        {
            for (var start = range.Start; start < range.End; start += _chunkMaxBytes)
            {
                var end = Math.Min(range.End, start + _chunkMaxBytes);
                RequestPages(new AddressRange(start, end, range.DumpStart + (start - range.Start)), background: false, budgetBytes: 0);
                reissued++;
            }
        }

        _log.Warning("{Task}: restarted ({Reason}); {Requests} request(s) in flight issued again ({Book})", _label, reason.Message, reissued, _book);
        _pusher.Tell(new BackgroundPusherActor.TaskRestarted(Self));
        ScheduleContinue();
    }

    /// <summary>Faults and events; a chunk waits for "restore finished" (the pusher starts after it anyway).</summary>
    private void ServingBeforeRestoreFinished()
    {
        ReceiveServing(mayComplete: false);
        Receive<PushChunk>(_ => Stash.Stash());
        Receive<RestoreFinished>(_ =>
        {
            _restoreFinishedSeen = true;
            Become(ServingAfterRestoreFinished);
            _copies.HoldBackground = false;
            if (!CheckRegistration())
            {
                return;
            }

            if (_copies.HasBackgroundJobs)
            {
                ScheduleContinue(); // what was prefetched during the restore
            }

            if (Stash.IsEmpty)
            {
                CheckComplete();
            }
            else
            {
                // The early chunks go first; handling them checks for completion.
                Stash.UnstashAll();
            }
        });
    }

    /// <summary>Faults, events and background chunks; complete when nothing is left.</summary>
    private void ServingAfterRestoreFinished()
    {
        ReceiveServing(mayComplete: true);
        Receive<PushChunk>(push =>
        {
            if (OnPushChunk(push))
            {
                CheckComplete();
            }
        });
        Receive<RestoreFinished>(_ => { });
    }

    /// <summary>Complete or gone, and stopping: data that still arrives is released.</summary>
    private void Ended()
    {
        Receive<PageCacheActor.Fetched>(fetched => fetched.Data.Dispose());
        Receive<ReportUnserved>(_ => Sender.Tell(new Unserved(_pid, _label, [], 0)));
        ReceiveAny(_ => { });
    }

    /// <summary>
    /// The handlers of both serving phases. Each returns false once the task ended while handling the message; in the
    /// phase after "restore finished" the task is then checked for completion.
    /// </summary>
    private void ReceiveServing(bool mayComplete)
    {
        void Then(bool serving)
        {
            if (serving && mayComplete)
            {
                CheckComplete();
            }
        }

        Receive<Events>(batch => Then(OnEvents(batch)));
        Receive<PageCacheActor.Fetched>(fetched => Then(OnFetched(fetched)));
        Receive<PageCacheActor.FetchFailed>(OnFetchFailed);
        Receive<ContinueCopy>(_ =>
        {
            _continueScheduled = false;
            Then(RunCopies());
        });
        Receive<RetryFault>(retry => Then(HandleFault(retry.Address, retry.Retry) && RunCopies()));
        Receive<LivenessTick>(_ => ProbeIfIdle());

        // A uffd whose task exited reads as empty, it does not fail: a read error is ours or the kernel's, not an exit.
        Receive<ReadFailed>(failed => throw new TaskFailedException(_pid, $"reading its userfaultfd failed: {failed.Error.Message}", Errno.None, 0, failed.Error));
        Receive<ReportUnserved>(_ =>
        {
            var ranges = _book.Pending.Concat(_book.InFlight).OrderBy(r => r.Start).ToList();
            Sender.Tell(new Unserved(_pid, _label, ranges, _book.Pending.TotalPages + _book.InFlight.TotalPages));
        });
    }

    /// <summary>
    /// The kernel sends no event when a task dies: a task nobody touches and nothing is copied to would keep the
    /// restore waiting forever (background transfer off, or before "restore finished"). So a task that was idle for a
    /// whole interval is probed (see <see cref="LivenessProbe"/>).
    /// </summary>
    private void ProbeIfIdle()
    {
        if (_activity != _activityAtLastProbe)
        {
            _activityAtLastProbe = _activity;
            return;
        }

        var outcome = _liveness.Probe();
        if (outcome.Gone is { } reason)
        {
            TaskGone(reason);
        }
        else if (outcome.Disabled is { } why)
        {
            _log.Warning("{Task}: liveness probe disabled: {Reason}", _label, why);
            Timers.Cancel(LivenessTimer);
        }
    }

    /// <summary>At "restore finished": one copy into every lazy VMA (see <see cref="TaskSpec.RegistrationChecks"/>).
    /// False when the task ended meanwhile.</summary>
    private bool CheckRegistration()
    {
        foreach (var address in _task.RegistrationChecks)
        {
            var decision = _book.OnFault(address, PageGeometry.PageSize);
            if (decision.Outcome == FaultOutcome.Claimed)
            {
                RequestPages(decision.Range, background: false, budgetBytes: 0);
            }
        }

        return _task.RegistrationChecks.Count == 0 || RunCopies();
    }

    private bool OnEvents(Events batch)
    {
        // Before anything is applied: a restart may hand the same batch to the new instance.
        _faults?.ThrowIfFires(FaultPoint.UffdActorThrows, $"task {_label}'s actor (a batch of uffd messages)");
        _activity++;
        _batchReadTimestamp = batch.ReadTimestamp;
        bool serving;
        try
        {
            serving = Apply(batch.Messages);
        }
        catch (Exception ex) when (ex is not TaskFailedException && batch.NonPagefaultEvents > 0)
        {
            // Part of a FORK/REMAP/REMOVE/UNMAP batch may be applied: applying it again could move ranges twice, so this
            // is not restarted but fails the task, naming why.
            throw new TaskFailedException(_pid, $"internal error applying a batch with {batch.NonPagefaultEvents} memory event(s): {ex.GetType().Name}: {ex.Message}", Errno.None, 0, ex);
        }
        finally
        {
            // Copies held back while these events were unapplied may go on (see UffdEventBarrier).
            _uffd.EventsHandled(batch.NonPagefaultEvents);
        }

        return serving && RunCopies();
    }

    private bool Apply(UffdMsg[] messages)
    {
        foreach (var message in messages)
        {
            switch (message.Event)
            {
                case UffdEvent.Pagefault:
                    if (!HandleFault(message.PagefaultAddress, 0))
                    {
                        return false;
                    }

                    break;
                case UffdEvent.Fork:
                    HandleFork(message.ForkUfd);
                    break;
                case UffdEvent.Remap:
                    _log.Debug("{Task}: REMAP 0x{From:x} -> 0x{To:x} ({Length})", _label, message.RemapFrom, message.RemapTo, message.RemapLength);
                    _book.Remap(message.RemapFrom, message.RemapTo, message.RemapLength);
                    break;
                case UffdEvent.Remove:
                    if (!HandleRemove(message.RemoveStart, message.RemoveEnd))
                    {
                        return false;
                    }

                    break;
                case UffdEvent.Unmap:
                    _log.Debug("{Task}: UNMAP 0x{Start:x}-0x{End:x}", _label, message.RemoveStart, message.RemoveEnd);
                    Drop(message.RemoveStart, message.RemoveEnd);
                    break;
                default:
                    throw new TaskFailedException(_pid, $"unexpected uffd event 0x{(byte)message.Event:x2} ({message})");
            }
        }

        return true;
    }

    /// <summary>A fault (<paramref name="retry"/> 0) or its retry after EAGAIN on a zero page.</summary>
    private bool HandleFault(ulong address, int retry)
    {
        var page = PageGeometry.AlignDown(address);
        var readAhead = _locality.ReadAheadBytes;
        ulong windowStart = page;
        if (retry == 0)
        {
            _progress.AddFault();
            readAhead = _locality.OnFault(page);
            if (_scatteredWindowBytes > 0 && _locality.LastFaultScattered)
            {
                // The aligned window around the page: from the page on first (it wakes the task), the rest after.
                windowStart = page & ~(_scatteredWindowBytes - 1);
                readAhead = windowStart + _scatteredWindowBytes - page;
            }
        }

        var decision = _book.OnFault(page, readAhead);
        switch (decision.Outcome)
        {
            case FaultOutcome.AlreadyInFlight:
                if (_overtakeWindowBytes > 0 && OvertakeBackgroundRead(decision.Range.DumpStart))
                {
                    return true;
                }

                return Continue(_copies.CopyUrgently(decision.Range.DumpStart, _locality.FollowingFront));
            case FaultOutcome.NotPending:
                return ZeroPage(address, page, retry);
            default:
                RequestPages(decision.Range, background: false, budgetBytes: 0);
                if (windowStart < page)
                {
                    ClaimWindowBefore(windowStart, page);
                }

                return true;
        }
    }

    /// <summary>The pending pages of a scattered fault's window before the faulting page, read with fault priority
    /// right after the faulting page's part (no fault waits on them: their copies record no fault latency).</summary>
    private void ClaimWindowBefore(ulong windowStart, ulong page)
    {
        _windowPieces.Clear();
        _book.ClaimWindowPart(windowStart, page, _windowPieces);
        foreach (var piece in _windowPieces)
        {
            RequestPages(piece, background: false, budgetBytes: 0, faultTimestamp: 0);
        }
    }

    private bool ZeroPage(ulong address, ulong page, int retry)
    {
        var result = _uffd.ZeroPage(page, PageGeometry.PageSize);
        if (result.IsSuccess)
        {
            _progress.AddZeroPage();
            if (retry == 0)
            {
                _progress.RecordFaultServed(_batchReadTimestamp);
            }

            return true;
        }

        switch (result.Error)
        {
            case Errno.ESRCH or Errno.ENOSPC:
                TaskGone($"UFFDIO_ZEROPAGE at 0x{page:x}: {result.Error}");
                return false;
            case Errno.EEXIST or Errno.ENOENT:
                _log.Debug("{Task}: zero page at 0x{Address:x}: {Errno} (already present or gone)", _label, page, result.Error);
                return true;
            case Errno.EAGAIN:
                if (!_retries.MayRetry(retry + 1))
                {
                    throw new TaskFailedException(_pid, $"UFFDIO_ZEROPAGE at 0x{page:x} still fails with EAGAIN after {retry} attempts", Errno.EAGAIN, page);
                }

                var again = new RetryFault(address, retry + 1);
                if (_retries.DelayBefore(again.Retry) is { } delay)
                {
                    Timers.StartSingleTimer(again, again, delay);
                }
                else
                {
                    Self.Tell(again);
                }

                return true;
            default:
                throw new TaskFailedException(_pid, $"UFFDIO_ZEROPAGE at 0x{page:x} failed: {result.Error}", result.Error, page);
        }
    }

    private void HandleFork(uint descriptor)
    {
        var child = _hub.Open(new SafeFdHandle((int)descriptor, ownsHandle: true));
        var book = _book.ForkChild();
        _log.Info("{Task}: FORK: child with ufd={Ufd}, {Pages} pages to fetch", _label, descriptor, book.Pending.TotalPages);
        Context.Parent.Tell(new ForkChildBorn(_pid, _label, child, book, (long)book.Pending.TotalPages) { Boundaries = _task.Boundaries });
    }

    private bool HandleRemove(ulong start, ulong end)
    {
        _log.Debug("{Task}: REMOVE 0x{Start:x}-0x{End:x}", _label, start, end);
        var errno = _uffd.Unregister(start, end - start);
        if (errno == Errno.ENOMEM)
        {
            TaskGone($"UFFDIO_UNREGISTER 0x{start:x}-0x{end:x}: ENOMEM");
            return false;
        }

        if (errno != Errno.None)
        {
            throw new TaskFailedException(_pid, $"UFFDIO_UNREGISTER 0x{start:x}-0x{end:x} failed: {errno}", errno, start);
        }

        Drop(start, end);
        return true;
    }

    private void Drop(ulong start, ulong end)
    {
        _book.Drop(start, end);
        _progress.SetDropped(_book.DroppedPages);
    }

    private bool OnPushChunk(PushChunk push)
    {
        _copies.SplitBackground = push.Split && MaySplitNow();
        var claimed = _locality.TryGetChunkHint(out var near)
            ? _book.TryClaimNear(near, push.MaxBytes, out var range)
            : _book.TryClaimBackground(push.MaxBytes, out range);
        if (!claimed)
        {
            Sender.Tell(new NothingToPush(Self, push.MaxBytes));
            return true;
        }

        RequestPages(range, background: true, push.MaxBytes);
        return RunCopies();
    }

    /// <summary>
    /// Whether this chunk may use the second copier, as far as the task's own state goes: a task that runs is computing
    /// on pages it has, and the second copier would take its CPU rather than help it, unless (following) it reads in
    /// order at the push front, i.e. the push is what holds it up.
    /// </summary>
    private bool MaySplitNow() => Scheduling.SecondCopierRule.MaySplit(_splitRule,
        _splitRule == Scheduling.SecondCopierWhileTaskRuns.WhenHeldUp ? _locality.HeldUpAtFront : _locality.FollowingFront, _runState);

    /// <summary>Gets the pages of a claimed range: at once when the source maps them (the job is queued; the caller runs
    /// the copies), otherwise through the page cache.</summary>
    private void RequestPages(AddressRange range, bool background, ulong budgetBytes) =>
        RequestPages(range, background, budgetBytes, background ? 0 : _batchReadTimestamp);

    private void RequestPages(AddressRange range, bool background, ulong budgetBytes, long faultTimestamp)
    {
        var pages = (int)range.Pages;
        if (_direct is not null && _direct.TryReadNow(_pid, range.DumpStart, pages, out var read))
        {
            _statistics?.CountRead(pages, zeroCopy: true, _direct.IsCacheLayer);
            var data = new PageData(range.DumpStart, pages, [new SharedPageRead(read)]);
            _copies.Add(new CopyJob(range.DumpStart, pages, background, budgetBytes, data) { FaultTimestamp = faultTimestamp });
            return;
        }

        var id = ++_nextRequestId;
        _requests.Add(id, new FetchRequest(range.DumpStart, pages, background, budgetBytes, faultTimestamp));
        _cache.Tell(new PageCacheActor.Fetch(_pid, range.DumpStart, pages,
            background ? ReadPriority.Background : ReadPriority.Fault, id));
    }

    /// <summary>
    /// A fault hit a page whose background read has not arrived (see
    /// <see cref="EngineSettings.FaultOvertakesBackgroundReads"/>): reads a window from that page, within the background
    /// read, as a fault of its own that joins no read in flight; whichever copy comes second finds the pages copied.
    /// False when there is nothing to overtake: the data is here, or a fault read already asks for the page.
    /// </summary>
    private bool OvertakeBackgroundRead(ulong dumpPage)
    {
        ulong backgroundEnd = 0;
        foreach (var request in _requests.Values)
        {
            var end = request.DumpStart + ((ulong)request.Pages << PageGeometry.PageShift);
            if (dumpPage >= request.DumpStart && dumpPage < end)
            {
                if (!request.Background)
                {
                    return false;
                }

                backgroundEnd = end;
            }
        }

        if (backgroundEnd == 0 || !_book.TryLocateInFlight(dumpPage, Math.Min(_overtakeWindowBytes, backgroundEnd - dumpPage), out var window))
        {
            return false;
        }

        var pages = (int)window.Pages;
        var id = ++_nextRequestId;
        _requests.Add(id, new FetchRequest(dumpPage, pages, false, 0, _batchReadTimestamp));
        _cache.Tell(new PageCacheActor.Fetch(_pid, dumpPage, pages, ReadPriority.Fault, id) { Overtake = true });
        _statistics?.CountOvertakingFault();
        return true;
    }

    private bool OnFetched(PageCacheActor.Fetched fetched)
    {
        _activity++;
        if (!_requests.Remove(fetched.RequestId, out var request))
        {
            fetched.Data.Dispose();
            return true;
        }

        _copies.Add(new CopyJob(request.DumpStart, request.Pages, request.Background, request.BudgetBytes, fetched.Data) { FaultTimestamp = request.FaultTimestamp });
        return RunCopies();
    }

    private void OnFetchFailed(PageCacheActor.FetchFailed failed)
    {
        if (_requests.Remove(failed.RequestId))
        {
            throw new TaskFailedException(_pid, $"cannot read {failed.Pages} page(s) at dump address 0x{failed.DumpAddress:x}: {failed.Error.Message}",
                Errno.None, failed.DumpAddress, failed.Error);
        }
    }

    /// <summary>One turn of the copy queue; false when the task is gone.</summary>
    private bool RunCopies()
    {
        _activity++;
        var round = _copies.Run();
        if (LostData())
        {
            return false;
        }

        if (round.BlockedJob is { } blocked)
        {
            if (!_retries.MayRetry(blocked.Retries))
            {
                throw new TaskFailedException(_pid, $"UFFDIO_COPY at dump address 0x{blocked.Cursor:x} still fails with EAGAIN after {blocked.Retries - 1} attempts without progress", Errno.EAGAIN, blocked.Cursor);
            }

            if (_retries.DelayBefore(blocked.Retries) is { } delay)
            {
                Timers.StartSingleTimer(CopyRetryTimer, ContinueCopy.Instance, delay);
            }
            else
            {
                ScheduleContinue();
            }

            return true;
        }

        if (!Continue(round))
        {
            return false;
        }

        if (round.FinishedChunk is { BudgetBytes: > 0 } chunk)
        {
            // (A job of no budget was prefetched during the restore, not handed out by the pusher.)
            var atFront = _locality.FrontFaultsSinceChunk;
            var scattered = _locality.ScatteredFaultsSinceChunk;
            _pusher.Tell(new ChunkFinished(Self, chunk.BudgetBytes, chunk.PagesCopied, _locality.TakeFaultsSinceChunk()) { FrontFaultsSince = atFront, ScatteredFaultsSince = scattered });
        }

        if (_copies.HasBackgroundJobs && !_copies.HoldBackground)
        {
            ScheduleContinue();
        }

        FlushProgress(force: false);
        return true;
    }

    /// <summary>
    /// Journals the ranges copied since the last flush, in batches (every 32 ranges or 100 ms of copying, and at the
    /// end): a successor then skips them. Progress not yet flushed when the daemon dies is only copied again (EEXIST).
    /// </summary>
    private void FlushProgress(bool force)
    {
        if (_progressLog is not { Count: > 0 } log)
        {
            return;
        }

        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (!force && log.Count < 32 && now - _progressFlushedAt < System.Diagnostics.Stopwatch.Frequency / 10)
        {
            return;
        }

        _task.Journal!.Progress(_task.JournalId, log);
        log.Clear();
        _progressFlushedAt = now;
    }

    /// <summary>
    /// True (and the task ended as failed, naming the ranges) once a page was lost (see <see cref="TaskRangeBook.Lose"/>):
    /// its memory is wrong, so serving it on would only hide that; the restore fails.
    /// </summary>
    private bool LostData()
    {
        if (LostPagesReport() is not { } lost)
        {
            return false;
        }

        _copies.ReleaseAll();
        _requests.Clear();
        End(TaskPhase.Failed, lost);
        return true;
    }

    /// <summary>False (and the task ended) when the round found the task gone or a page lost.</summary>
    private bool Continue(CopyRound round)
    {
        if (LostData())
        {
            return false;
        }

        if (round.End != CopyRoundEnd.TaskGone)
        {
            return true;
        }

        if (round.GoneReason!.StartsWith("UFFDIO_COPY", StringComparison.Ordinal) && _liveness.Probe().Gone is null)
        {
            if (_goneUnconfirmed >= MaxUnconfirmedGone)
            {
                throw new TaskFailedException(_pid, $"{round.GoneReason} {_goneUnconfirmed + 1} times, yet the liveness probe finds the task's memory");
            }

            // ESRCH means the task's memory is gone, which the probe (a zero page elsewhere) then confirms; when it
            // does not, the answer was not the task's end: try again, bounded, rather than close a live task's uffd.
            _goneUnconfirmed++;
            _statistics?.CountCopyRetry();
            _log.Warning("{Task}: {Reason}, but the task's memory is still there (liveness probe); copying again ({Attempt} of at most {Limit})", _label, round.GoneReason, _goneUnconfirmed, MaxUnconfirmedGone);
            Timers.StartSingleTimer(CopyRetryTimer, ContinueCopy.Instance, TimeSpan.FromMilliseconds(10));
            return true;
        }

        TaskGone(round.GoneReason!);
        return false;
    }

    /// <summary>The next background slice after the messages already queued (faults first).</summary>
    private void ScheduleContinue()
    {
        if (!_continueScheduled)
        {
            _continueScheduled = true;
            Self.Tell(ContinueCopy.Instance);
        }
    }

    private void CheckComplete()
    {
        if (!_book.IsComplete || _requests.Count > 0 || !_copies.IsEmpty)
        {
            return;
        }

        _log.Info("{Task}: complete, UFFD transferred pages: ({Copied}/{Total}), {Faults} faults, {ZeroPages} zero pages, {Dropped} dropped",
            _label, _book.CopiedPages, _book.TotalPages, _progress.Faults, _progress.ZeroPages, _progress.DroppedPages);
        if (LostPagesReport() is { } lost)
        {
            End(TaskPhase.Failed, lost);
            return;
        }

        End(TaskPhase.Complete, null);
    }

    private void TaskGone(string reason)
    {
        _log.Info("{Task}: EXIT ({Reason}); {Book}", _label, reason, _book);
        _copies.ReleaseAll();
        _requests.Clear();
        if (LostPagesReport() is { } lost)
        {
            // It ran with those pages wrong before it exited.
            End(TaskPhase.Failed, $"{lost}; then the task exited ({reason})");
            return;
        }

        End(TaskPhase.Exited, reason);
    }

    /// <summary>What was lost (see <see cref="TaskRangeBook.Lose"/>), naming the task and the ranges, or null.</summary>
    private string? LostPagesReport()
    {
        if (_book.LostPages == 0)
        {
            return null;
        }

        var ranges = string.Join(", ", _book.LostRanges.Take(4).Select(r => r.Start == r.DumpStart
            ? $"0x{r.Start:x}-0x{r.End:x}"
            : $"0x{r.Start:x}-0x{r.End:x} (dump address 0x{r.DumpStart:x})"));
        var more = _book.LostRanges.Count > 4 ? $" and {_book.LostRanges.Count - 4} more range(s)" : "";
        return $"pid {_pid} ({_label}): {_book.LostPages} page(s) lost at {ranges}{more}: UFFDIO_COPY answered ENOENT (no registered memory there) and no UNMAP/REMOVE/REMAP event explains it";
    }

    private void End(TaskPhase phase, string? reason)
    {
        if (_ended)
        {
            return;
        }

        _ended = true;
        _progress.End(phase, reason);
        if (_progressLog is not null)
        {
            FlushProgress(force: true);
            _task.Journal!.Ended(_task.JournalId, (int)phase, reason);
        }

        Context.Parent.Tell(new TaskEnded(_pid, _label, phase, reason));
        Become(Ended);
        Context.Stop(Self);
    }

    /// <summary>A claimed range whose data the page cache is reading.</summary>
    private readonly record struct FetchRequest(ulong DumpStart, int Pages, bool Background, ulong BudgetBytes, long FaultTimestamp);

    private sealed class ContinueCopy : INoSerializationVerificationNeeded
    {
        public static readonly ContinueCopy Instance = new();
    }

    private sealed record RetryFault(ulong Address, int Retry) : INoSerializationVerificationNeeded;

    private sealed class LivenessTick : INoSerializationVerificationNeeded
    {
        public static readonly LivenessTick Instance = new();
    }
}
