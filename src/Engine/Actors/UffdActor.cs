using Akka.Actor;
using Akka.Event;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Actors;

/// <summary>
/// The per-task actor that owns one userfaultfd and its <see cref="TaskRangeBook"/>: it answers page
/// faults (zero page, or fetch through the page cache then UFFDIO_COPY), applies FORK/REMAP/REMOVE/UNMAP, copies the
/// background chunks the pusher asks for, and stops once the task is complete or gone.
/// </summary>
public sealed class UffdActor : EngineActor, IWithTimers
{
    /// <summary>Props of a task actor. Its parent (the supervisor) receives <see cref="TaskEnded"/> and <see cref="ForkChildBorn"/>.</summary>
    /// <param name="task">Who it serves and with what.</param>
    /// <param name="cache">The <see cref="PageCacheActor"/>.</param>
    /// <param name="pusher">The <see cref="BackgroundPusherActor"/> (receives chunk reports).</param>
    /// <param name="hub">Delivers the uffd's messages.</param>
    /// <param name="settings">Tuning.</param>
    /// <param name="direct">Optional fast path: pages this source hands out at once (zero-copy) skip the page cache.</param>
    /// <param name="statistics">Counters of direct reads (with <paramref name="direct"/>).</param>
    public static Props Props(TaskSpec task, IActorRef cache, IActorRef pusher, IUffdHub hub, EngineSettings settings,
        IPageSource? direct = null, EngineStatistics? statistics = null) =>
        Akka.Actor.Props.Create(() => new UffdActor(task, cache, pusher, hub, settings, direct, statistics)).WithDispatcher(EngineSettings.DispatcherId);

    /// <summary>What a task actor starts with.</summary>
    /// <param name="Pid">Pid whose pages are fetched (a fork child uses its parent's).</param>
    /// <param name="Uffd">The task's userfaultfd; the actor owns and disposes it.</param>
    /// <param name="Book">Pending ranges (the actor owns it from now on).</param>
    /// <param name="Progress">Counters to update.</param>
    /// <param name="RestoreFinished">True when "restore finished" already arrived (fork children born after it).</param>
    public sealed record TaskSpec(int Pid, IUffd Uffd, TaskRangeBook Book, TaskProgress Progress, bool RestoreFinished)
        : INoSerializationVerificationNeeded;

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
        }

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

    /// <summary>The restorer sent "restore finished": the task may complete (and background chunks may come).</summary>
    public sealed class RestoreFinished : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly RestoreFinished Instance = new();

        private RestoreFinished()
        {
        }
    }

    /// <summary>From the pusher: claim at most <paramref name="MaxBytes"/> of pending memory and copy it.</summary>
    public sealed record PushChunk(ulong MaxBytes) : INoSerializationVerificationNeeded;

    /// <summary>To the pusher: a chunk was copied (<paramref name="Pages"/> pages); faults seen since the previous report.</summary>
    public sealed record ChunkFinished(IActorRef Task, ulong Bytes, long Pages, int FaultsSince) : INoSerializationVerificationNeeded;

    /// <summary>To the pusher: nothing pending any more (in-flight faults may still be completing).</summary>
    public sealed record NothingToPush(IActorRef Task, ulong Bytes) : INoSerializationVerificationNeeded;

    /// <summary>To the supervisor: the task needs no more service.</summary>
    public sealed record TaskEnded(int Pid, string Label, TaskPhase Phase, string? Reason) : INoSerializationVerificationNeeded;

    /// <summary>To the supervisor: a FORK event created a child uffd; spawn a task actor for it.</summary>
    public sealed record ForkChildBorn(int Pid, string ParentLabel, IUffd Uffd, TaskRangeBook Book, long TotalPages)
        : INoSerializationVerificationNeeded;

    private const ulong PageSize = PageGeometry.PageSize;
    private const string RetryTimer = "eagain-retry";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly int _pid;
    private readonly string _label;
    private readonly IUffd _uffd;
    private readonly TaskRangeBook _book;
    private readonly TaskProgress _progress;
    private readonly IActorRef _cache;
    private readonly IActorRef _pusher;
    private readonly IUffdHub _hub;
    private readonly EngineSettings _settings;
    private readonly IPageSource? _direct;
    private readonly EngineStatistics? _statistics;
    private readonly Dictionary<long, Request> _requests = [];
    private readonly Queue<CopyJob> _faultJobs = new();
    private readonly Queue<CopyJob> _backgroundJobs = new();
    private bool _finished;
    private bool _ended;
    private bool _continueScheduled;
    private bool _watching;
    private long _nextRequestId;
    private ulong _lastFaultPage = ulong.MaxValue;
    private ulong _readAhead = PageSize;
    private int _faultsSinceChunk;

    public UffdActor(TaskSpec task, IActorRef cache, IActorRef pusher, IUffdHub hub, EngineSettings settings,
        IPageSource? direct, EngineStatistics? statistics)
    {
        _direct = direct;
        _statistics = statistics;
        _pid = task.Pid;
        _label = task.Progress.Label;
        _uffd = task.Uffd;
        _book = task.Book;
        _progress = task.Progress;
        _finished = task.RestoreFinished;
        _cache = cache;
        _pusher = pusher;
        _hub = hub;
        _settings = settings;

        Receive<Events>(OnEvents);
        Receive<PageCacheActor.Fetched>(OnFetched);
        Receive<PageCacheActor.FetchFailed>(OnFetchFailed);
        Receive<ContinueCopy>(_ =>
        {
            _continueScheduled = false;
            RunCopies();
        });
        Receive<RetryFault>(r =>
        {
            HandleFault(r.Address, r.Attempt);
            RunCopies();
        });
        Receive<PushChunk>(OnPushChunk);
        Receive<RestoreFinished>(_ =>
        {
            _finished = true;
            CheckComplete();
        });
        Receive<ReadFailed>(r => TaskGone($"reading its userfaultfd failed: {r.Error.Message}"));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        _hub.Watch(_uffd, Self);
        _watching = true;
        _log.Debug("{Task}: serving {Uffd} ({Book})", _label, _uffd, _book);
        CheckComplete();
    }

    protected override void PostStop()
    {
        ReleaseJobs();
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

    private void OnEvents(Events batch)
    {
        try
        {
            HandleEvents(batch);
        }
        finally
        {
            // Copies held back while these events were unapplied may go on (see UffdEventBarrier).
            _uffd.EventsHandled(batch.NonPagefaultEvents);
        }

        RunCopies();
    }

    private void HandleEvents(Events batch)
    {
        foreach (var message in batch.Messages)
        {
            if (_ended)
            {
                return;
            }

            switch (message.Event)
            {
                case UffdEvent.Pagefault:
                    HandleFault(message.PagefaultAddress, 0);
                    break;
                case UffdEvent.Fork:
                    HandleFork(message.ForkUfd);
                    break;
                case UffdEvent.Remap:
                    _log.Debug("{Task}: REMAP 0x{From:x} -> 0x{To:x} ({Length})", _label, message.RemapFrom, message.RemapTo, message.RemapLength);
                    _book.Remap(message.RemapFrom, message.RemapTo, message.RemapLength);
                    break;
                case UffdEvent.Remove:
                    HandleRemove(message.RemoveStart, message.RemoveEnd);
                    break;
                case UffdEvent.Unmap:
                    _log.Debug("{Task}: UNMAP 0x{Start:x}-0x{End:x}", _label, message.RemoveStart, message.RemoveEnd);
                    _progress.AddDropped((long)_book.Drop(message.RemoveStart, message.RemoveEnd));
                    break;
                default:
                    throw new TaskFailedException(_pid, $"unexpected uffd event 0x{(byte)message.Event:x2} ({message})");
            }
        }
    }

    private void HandleFault(ulong address, int attempt)
    {
        if (_ended)
        {
            return;
        }

        var page = PageGeometry.AlignDown(address);
        if (attempt == 0)
        {
            _progress.AddFault();
            _faultsSinceChunk++;
            _readAhead = _lastFaultPage != ulong.MaxValue && page > _lastFaultPage && page - _lastFaultPage <= _readAhead
                ? Math.Min(_readAhead * 2, (ulong)_settings.FaultReadAheadMaxBytes)
                : PageSize;
            _lastFaultPage = page;
        }

        var decision = _book.OnFault(page, _readAhead);
        switch (decision.Outcome)
        {
            case FaultOutcome.AlreadyInFlight:
                CopyUrgently(decision.Range.DumpStart);
                break;
            case FaultOutcome.NotPending:
                ZeroPage(address, page, attempt);
                break;
            case FaultOutcome.Claimed:
                RequestPages(decision.Range, background: false);
                break;
        }
    }

    private void ZeroPage(ulong address, ulong page, int attempt)
    {
        var result = _uffd.ZeroPage(page, PageSize);
        if (result.IsSuccess)
        {
            _progress.AddZeroPage();
            return;
        }

        switch (result.Error)
        {
            case Errno.ESRCH or Errno.ENOSPC:
                TaskGone($"UFFDIO_ZEROPAGE at 0x{page:x}: {result.Error}");
                break;
            case Errno.EEXIST or Errno.ENOENT:
                _log.Debug("{Task}: zero page at 0x{Address:x}: {Errno} (already present or gone)", _label, page, result.Error);
                break;
            case Errno.EAGAIN:
                if (attempt >= _settings.EagainRetryLimit)
                {
                    throw new TaskFailedException(_pid, $"UFFDIO_ZEROPAGE at 0x{page:x} still fails with EAGAIN after {attempt} attempts", Errno.EAGAIN, page);
                }

                ScheduleRetry(new RetryFault(address, attempt + 1), attempt + 1);
                break;
            default:
                throw new TaskFailedException(_pid, $"UFFDIO_ZEROPAGE at 0x{page:x} failed: {result.Error}", result.Error, page);
        }
    }

    private void HandleFork(uint descriptor)
    {
        var child = _hub.Open(new SafeFdHandle((int)descriptor, ownsHandle: true));
        var book = _book.ForkChild();
        _log.Info("{Task}: FORK: child with ufd={Ufd}, {Pages} pages to fetch", _label, descriptor, book.Pending.TotalPages);
        Context.Parent.Tell(new ForkChildBorn(_pid, _label, child, book, (long)book.Pending.TotalPages));
    }

    private void HandleRemove(ulong start, ulong end)
    {
        _log.Debug("{Task}: REMOVE 0x{Start:x}-0x{End:x}", _label, start, end);
        var errno = _uffd.Unregister(start, end - start);
        if (errno == Errno.ENOMEM)
        {
            TaskGone($"UFFDIO_UNREGISTER 0x{start:x}-0x{end:x}: ENOMEM");
            return;
        }

        if (errno != Errno.None)
        {
            throw new TaskFailedException(_pid, $"UFFDIO_UNREGISTER 0x{start:x}-0x{end:x} failed: {errno}", errno, start);
        }

        _progress.AddDropped((long)_book.Drop(start, end));
    }

    private void OnPushChunk(PushChunk push)
    {
        if (_ended)
        {
            return;
        }

        AddressRange range;
        var claimed = _faultsSinceChunk > 0 && _lastFaultPage != ulong.MaxValue
            ? _book.TryClaimNear(_lastFaultPage, push.MaxBytes, out range)
            : _book.TryClaimBackground(push.MaxBytes, out range);
        if (!claimed)
        {
            Sender.Tell(new NothingToPush(Self, push.MaxBytes));
            CheckComplete();
            return;
        }

        RequestPages(range, background: true, push.MaxBytes);
        RunCopies();
    }

    /// <summary>Gets the pages of a claimed range: at once when the source maps them (the copy job is queued; the caller
    /// runs <see cref="RunCopies"/>), otherwise through the page cache.</summary>
    private void RequestPages(AddressRange range, bool background, ulong budget = 0)
    {
        var pages = (int)range.Pages;
        var request = new Request(range.DumpStart, pages, background, budget);
        if (_direct is not null && _direct.TryReadNow(_pid, range.DumpStart, pages, out var read))
        {
            _statistics?.CountRead(pages, zeroCopy: true);
            var data = new PageData(range.DumpStart, pages, [new SharedPageRead(read)]);
            (background ? _backgroundJobs : _faultJobs).Enqueue(new CopyJob(request, data));
            return;
        }

        var id = ++_nextRequestId;
        _requests.Add(id, request);
        _cache.Tell(new PageCacheActor.Fetch(_pid, range.DumpStart, pages,
            background ? PageCacheActor.FetchPriority.Background : PageCacheActor.FetchPriority.Fault, id));
    }

    private void OnFetched(PageCacheActor.Fetched fetched)
    {
        if (_ended || !_requests.Remove(fetched.RequestId, out var request))
        {
            fetched.Data.Dispose();
            return;
        }

        var job = new CopyJob(request, fetched.Data);
        (request.Background ? _backgroundJobs : _faultJobs).Enqueue(job);
        RunCopies();
    }

    private void OnFetchFailed(PageCacheActor.FetchFailed failed)
    {
        if (_ended || !_requests.Remove(failed.RequestId, out _))
        {
            return;
        }

        throw new TaskFailedException(_pid, $"cannot read {failed.Pages} page(s) at dump address 0x{failed.DumpAddress:x}: {failed.Error.Message}",
            Errno.None, failed.DumpAddress, failed.Error);
    }

    /// <summary>Fault jobs run to completion at once; background jobs one slice per message, so faults overtake them.</summary>
    private void RunCopies()
    {
        while (!_ended && _faultJobs.TryPeek(out var job))
        {
            if (!Advance(job, ulong.MaxValue))
            {
                return;
            }

            _faultJobs.Dequeue();
            Finish(job);
        }

        if (!_ended && _backgroundJobs.TryPeek(out var background))
        {
            if (!Advance(background, (ulong)_settings.CopySliceBytes))
            {
                return;
            }

            if (background.Cursor >= background.End)
            {
                _backgroundJobs.Dequeue();
                Finish(background);
            }

            if (_backgroundJobs.Count > 0)
            {
                ScheduleContinue();
            }
        }

        CheckComplete();
    }

    /// <summary>Copies up to <paramref name="budget"/> bytes of the job. False when it must wait (retry scheduled) or the task ended.</summary>
    private bool Advance(CopyJob job, ulong budget)
    {
        var before = job.Cursor;
        var outcome = CopyRange(job.Data, ref job.Cursor, job.End, budget, job.Request.Background, ref job.Pages);
        if (job.Cursor > before)
        {
            job.Attempts = 0;
        }

        switch (outcome)
        {
            case CopyOutcome.Gone:
                return false;
            case CopyOutcome.Again:
                job.Attempts++;
                if (job.Attempts > _settings.EagainRetryLimit)
                {
                    throw new TaskFailedException(_pid, $"UFFDIO_COPY at dump address 0x{job.Cursor:x} still fails with EAGAIN after {job.Attempts - 1} attempts without progress", Errno.EAGAIN, job.Cursor);
                }

                ScheduleRetry(ContinueCopy.Instance, job.Attempts);
                return false;
            default:
                return true;
        }
    }

    /// <summary>A fault hit a page in flight: if its data is already here, copy a small window around it now.</summary>
    private void CopyUrgently(ulong dumpPage)
    {
        foreach (var job in _faultJobs.Concat(_backgroundJobs))
        {
            if (dumpPage < job.Cursor || dumpPage >= job.End)
            {
                continue;
            }

            var cursor = dumpPage;
            var end = Math.Min(job.End, dumpPage + (ulong)_settings.UrgentCopyWindowBytes);
            long pages = 0;
            CopyRange(job.Data, ref cursor, end, ulong.MaxValue, job.Request.Background, ref pages);
            job.Pages += pages;
            return;
        }
    }

    /// <summary>
    /// Copies the in-flight pages of dump range [cursor, end) from <paramref name="data"/>, at most
    /// <paramref name="budget"/> bytes, applying the errno rules of spec §2.5. Pages no longer in flight (dropped,
    /// copied urgently) are skipped.
    /// </summary>
    private CopyOutcome CopyRange(PageData data, ref ulong cursor, ulong end, ulong budget, bool background, ref long pagesCopied)
    {
        while (cursor < end && budget > 0)
        {
            if (!_book.TryLocateInFlight(cursor, Math.Min(end - cursor, budget), out var current))
            {
                cursor += PageSize;
                continue;
            }

            if (!data.TryLocate(cursor, out var source, out var available))
            {
                throw new InvalidOperationException($"page data 0x{data.DumpAddress:x}+{data.Pages}p does not hold dump address 0x{cursor:x}");
            }

            var length = Math.Min(current.Length, available);
            var result = _uffd.Copy(current.Start, source, length);
            var done = PageGeometry.AlignDown((ulong)Math.Max(0, result.Bytes));
            if (result.IsSuccess)
            {
                done = length;
            }

            if (done > 0)
            {
                var copied = (long)_book.Complete(new AddressRange(current.Start, current.Start + done, current.DumpStart), done);
                _progress.AddCopied(copied, background);
                pagesCopied += copied;
                cursor += done;
                budget -= Math.Min(budget, done);
            }

            if (result.IsSuccess)
            {
                continue;
            }

            var at = current.Start + done;
            switch (result.Error)
            {
                case Errno.ESRCH or Errno.ENOSPC:
                    TaskGone($"UFFDIO_COPY at 0x{at:x}: {result.Error}");
                    return CopyOutcome.Gone;
                case Errno.EAGAIN:
                    return CopyOutcome.Again;
                case Errno.EEXIST:
                    // The page is already there (a racing fault was served by the kernel, or a fork child's COW copy).
                    _log.Debug("{Task}: UFFDIO_COPY at 0x{Address:x}: EEXIST, page already present", _label, at);
                    _book.Complete(new AddressRange(at, at + PageSize, current.DumpStart + done), PageSize);
                    cursor += PageSize;
                    break;
                case Errno.ENOENT:
                    _log.Debug("{Task}: UFFDIO_COPY at 0x{Address:x}: ENOENT, mapping gone", _label, at);
                    _progress.AddDropped((long)_book.Drop(at, current.Start + length));
                    cursor += length - done;
                    break;
                default:
                    throw new TaskFailedException(_pid, $"UFFDIO_COPY of {length - done} bytes at 0x{at:x} failed: {result.Error}", result.Error, at);
            }
        }

        return cursor >= end ? CopyOutcome.Done : CopyOutcome.Progress;
    }

    private void Finish(CopyJob job)
    {
        job.Data.Dispose();
        if (job.Request.Background)
        {
            _pusher.Tell(new ChunkFinished(Self, job.Request.Budget, job.Pages, _faultsSinceChunk));
            _faultsSinceChunk = 0;
        }
    }

    private void ScheduleContinue()
    {
        if (!_continueScheduled)
        {
            _continueScheduled = true;
            Self.Tell(ContinueCopy.Instance);
        }
    }

    private void ScheduleRetry(object message, int attempt)
    {
        if (attempt <= _settings.EagainImmediateRetries)
        {
            // Behind whatever the mailbox holds: the pending event that caused EAGAIN is read first.
            if (message is ContinueCopy)
            {
                ScheduleContinue();
            }
            else
            {
                Self.Tell(message);
            }

            return;
        }

        var exponent = Math.Min(attempt - _settings.EagainImmediateRetries, 16);
        var delay = TimeSpan.FromMicroseconds(Math.Min(_settings.EagainMaxBackoff.TotalMicroseconds, 500 * Math.Pow(2, exponent - 1)));
        if (message is ContinueCopy)
        {
            Timers.StartSingleTimer(RetryTimer, message, delay);
        }
        else
        {
            Timers.StartSingleTimer(message, message, delay);
        }
    }

    private void CheckComplete()
    {
        if (_ended || !_finished || !_book.IsComplete || _requests.Count > 0 || _faultJobs.Count > 0 || _backgroundJobs.Count > 0)
        {
            return;
        }

        _ended = true;
        _log.Info("{Task}: complete, UFFD transferred pages: ({Copied}/{Total}), {Faults} faults, {ZeroPages} zero pages, {Dropped} dropped",
            _label, _book.CopiedPages, _book.TotalPages, _progress.Faults, _progress.ZeroPages, _book.DroppedPages);
        _progress.End(TaskPhase.Complete, null);
        Context.Parent.Tell(new TaskEnded(_pid, _label, TaskPhase.Complete, null));
        Context.Stop(Self);
    }

    private void TaskGone(string reason)
    {
        if (_ended)
        {
            return;
        }

        _ended = true;
        _log.Info("{Task}: EXIT ({Reason}); {Book}", _label, reason, _book);
        ReleaseJobs();
        _requests.Clear();
        _progress.End(TaskPhase.Exited, reason);
        Context.Parent.Tell(new TaskEnded(_pid, _label, TaskPhase.Exited, reason));
        Context.Stop(Self);
    }

    private void ReleaseJobs()
    {
        foreach (var job in _faultJobs.Concat(_backgroundJobs))
        {
            job.Data.Dispose();
        }

        _faultJobs.Clear();
        _backgroundJobs.Clear();
    }

    private enum CopyOutcome
    {
        Done,
        Progress,
        Again,
        Gone,
    }

    private sealed record Request(ulong DumpStart, int Pages, bool Background, ulong Budget);

    private sealed class CopyJob(Request request, PageData data)
    {
        public Request Request { get; } = request;

        public PageData Data { get; } = data;

        public ulong End { get; } = request.DumpStart + ((ulong)request.Pages << PageGeometry.PageShift);

        public ulong Cursor = request.DumpStart;

        public long Pages;

        public int Attempts;
    }

    private sealed class ContinueCopy
    {
        public static readonly ContinueCopy Instance = new();
    }

    private sealed record RetryFault(ulong Address, int Attempt);
}
