using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Diagnostics;
using LazyActors.Engine.Faults;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Actors.Remote;

/// <summary>
/// The page source of a remote restore: it owns the connection(s) to the source host (CRIU's page-server protocol,
/// <see cref="PageServerClient"/>) and serves the page cache's reads (through <see cref="RemotePageSource"/>). Replies
/// are received into the reads' pinned buffers, which the task actors then copy from (no copy in between).
/// </summary>
/// <remarks>
/// <para>Faults never wait behind background data: with a source that serves a second connection (ours), faults have
/// a connection of their own and background requests go big on the other; with one FIFO connection (CRIU's servers)
/// background requests are cut to <c>shared-background-request</c> and at most <c>shared-background-in-flight</c> are
/// on the wire, so a fault waits behind about one of them. Faults are sent the moment they arrive. Short replies (the
/// source clamps a GET at the end of its run) are asked again for the rest at once. Only what the page cache asks is
/// asked, and it asks only pending lazy ranges of the pagemap, by the pid whose pages they are.</para>
/// <para>Recovery: a failed connection (EOF, reset, a reply past <c>reply-timeout</c>, a broken reply) is dropped, its
/// readers are awaited, and every request that was on the wire is queued again, in order; the actor reconnects with a
/// backoff and re-issues them while the faulting tasks stay blocked. When no connection delivered a reply for
/// <c>give-up-after</c> since the source was lost, it tells its parent <see cref="SourceLost"/> and keeps every read
/// pending: nothing is failed (a failed read would close a task's uffd and the task would read zeros), the parent
/// stops the tree first.</para>
/// <para>Phases: connecting → serving ⇄ recovering → given up; serving → closing (PS_IOV_CLOSE, or FORCE_CLOSE on an
/// inherited socket, status read) → closed.</para>
/// </remarks>
public sealed class RemoteFetchActor : EngineActor, IWithTimers
{
    /// <summary>Props of the fetcher for the reads of <paramref name="owner"/>.</summary>
    /// <param name="endpoint">Where the source is.</param>
    /// <param name="settings">Connections, sizes, deadlines, recovery.</param>
    /// <param name="probe">A page the source holds, to check a second connection with (null: one connection).</param>
    /// <param name="owner">The page source whose reads this actor serves; told when the actor stopped.</param>
    /// <param name="readerNice">Nice value of the connections' reader threads (the engine threads'), or null.</param>
    /// <param name="statistics">Counters to update, or null.</param>
    /// <param name="faults">The restore's fault injector (tests only), or null.</param>
    public static Props Props(PageServerEndpoint endpoint, RemoteFetchSettings settings, ProbePage? probe, RemotePageSource owner, int? readerNice = null,
        RemoteStatistics? statistics = null, FaultInjector? faults = null) =>
        Akka.Actor.Props.Create(() => new RemoteFetchActor(endpoint, settings, probe, owner, readerNice, statistics ?? new RemoteStatistics(), faults)).WithDispatcher(EngineSettings.DispatcherId);

    /// <summary>
    /// What a fetcher restarted after an exception leaves to its next instance: the reads it held (issued again whole),
    /// the closing of its connections (no reply may land in a buffer once the new instance re-issues into it, so the new
    /// instance connects only after that), and its generation (replies of older ones are ignored).
    /// </summary>
    internal sealed record Handover(IReadOnlyList<RemoteRead> Reads, Task Closed, int Generation, string Reason);

    /// <summary>From the parent once every task is complete: end the session(s); the reply is <see cref="Closed"/>.</summary>
    public sealed class Close : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly Close Instance = new();

        private Close()
        {
        }
    }

    /// <summary>The session ended: <paramref name="Confirmed"/> when the source answered the close with status 0.</summary>
    public sealed record Closed(bool Confirmed, string? Error) : INoSerializationVerificationNeeded;

    /// <summary>To the parent: the first connection could not be made (CRIU exits 1 then too).</summary>
    public sealed record ConnectFailed(string Peer, string Reason) : INoSerializationVerificationNeeded;

    /// <summary>
    /// To the parent: the source is given up (no reply for give-up-after). Reads stay pending; stop the tree, then end.
    /// </summary>
    /// <param name="Peer">The source.</param>
    /// <param name="Reason">The last failure.</param>
    /// <param name="Waited">Since when the source was lost.</param>
    /// <param name="ReadsWaiting">Reads that never got their pages.</param>
    public sealed record SourceLost(string Peer, string Reason, TimeSpan Waited, int ReadsWaiting) : INoSerializationVerificationNeeded;

    /// <summary>A read of the page cache (from <see cref="RemotePageSource"/>).</summary>
    internal sealed record Read(RemoteRead Request) : INoSerializationVerificationNeeded;

    private const string ReconnectTimer = "reconnect";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly PageServerEndpoint _endpoint;
    private readonly RemoteFetchSettings _settings;
    private readonly ProbePage? _probe;
    private readonly RemotePageSource _owner;
    private readonly int? _readerNice;
    private readonly RemoteStatistics _statistics;
    private readonly LinkedList<WirePiece> _faults = new();
    private readonly LinkedList<WirePiece> _background = new();
    private readonly HashSet<RemoteRead> _reads = [];
    private readonly SourceRunGrid _runGrid = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _closing = [];
    private SourceLinks? _links;
    private FaultConnectionMode _faultConnection;
    private int _generation;
    private long _sequence;
    private TimeSpan? _lostAt;
    private string _lastFailure = "no failure";
    private readonly ReconnectSchedule _reconnectSchedule;
    private int _reconnects;
    private IActorRef _closeRequester = ActorRefs.Nobody;
    private readonly FaultInjector? _injector;

    /// <summary>Use <see cref="Props"/>.</summary>
    public RemoteFetchActor(PageServerEndpoint endpoint, RemoteFetchSettings settings, ProbePage? probe, RemotePageSource owner, int? readerNice,
        RemoteStatistics statistics, FaultInjector? faults = null)
    {
        _injector = faults;
        _readerNice = readerNice;
        _statistics = statistics;
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(owner);
        _endpoint = endpoint;
        _settings = settings;
        _probe = probe;
        _owner = owner;
        _faultConnection = settings.FaultConnection;
        _reconnectSchedule = new ReconnectSchedule(settings);
        Connecting();
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    private string Peer => _links?.Main.Client.Peer ?? _endpoint.ToString();

    /// <inheritdoc />
    protected override void PreStart()
    {
        if (_owner.TryTakeEarlyLinks(out var early))
        {
            // The daemon connected while it opened the checkpoint: no connecting here, and no wait for it either.
            _ = early.PipeTo(Self, success: links => new LinksUp(links), failure: error => new ConnectAttemptFailed(Describe(error)));
            return;
        }

        StartConnecting();
    }

    /// <summary>
    /// Restarted after an exception: like a lost connection, without failing any read. The connections are dropped
    /// (their pieces no longer count), and the reads, the closing and the generation are left to the next instance
    /// through the owner (<see cref="Handover"/>); nothing is failed, so no task reads zeros.
    /// </summary>
    protected override void PreRestart(Exception reason, object message)
    {
        var reads = _reads.ToList();
        if (message is Read read && !_reads.Contains(read.Request))
        {
            reads.Add(read.Request);
        }

        var closing = new List<Task>(_closing);
        if (_links is { } links)
        {
            foreach (var piece in links.All.SelectMany(l => l.InFlight))
            {
                piece.Link = null;
            }

            closing.AddRange(links.All.Select(l => l.Client.DisposeAsync().AsTask()));
            _links = null;
        }

        _stopping.Cancel();
        _stopping.Dispose();
        _owner.Handover = new Handover(reads, Task.WhenAll(closing), _generation, reason.Message);
    }

    /// <summary>The new instance: takes the reads over and reconnects (through recovery) once the old connections
    /// are closed.</summary>
    protected override void PostRestart(Exception reason)
    {
        var handover = _owner.Handover ?? new Handover([], Task.CompletedTask, 0, reason.Message);
        _owner.Handover = null;
        _generation = handover.Generation + 1;
        foreach (var read in handover.Reads)
        {
            read.PagesLeft = read.Pages;
            Enqueue(read);
        }

        _closing.Add(handover.Closed);
        _lastFailure = $"the fetcher restarted after: {handover.Reason}";
        _lostAt = _clock.Elapsed;
        _log.Warning("page server {Peer}: the fetcher restarted ({Reason}); reconnecting and re-issuing {Reads} read(s)", _endpoint, handover.Reason, handover.Reads.Count);
        Become(Recovering);
        var generation = _generation;
        _ = handover.Closed.PipeTo(Self, success: () => new LinksClosed(generation), failure: _ => new LinksClosed(generation));
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _stopping.Cancel();
        if (_links is { } links)
        {
            _closing.AddRange(links.All.Select(l => l.Client.DisposeAsync().AsTask()));
        }

        // Replies may still be written into the reads' buffers until every reader ended: the owner keeps the pools
        // until then.
        _owner.OnFetcherStopped(Task.WhenAll(_closing));
        FailAll(new PageServerException(Peer, "the remote fetcher stopped"));
        _stopping.Dispose();
    }

    /// <summary>The first connection is being made; reads wait in the queues.</summary>
    private void Connecting()
    {
        Receive<Read>(read => Enqueue(read.Request));
        Receive<LinksUp>(up =>
        {
            Install(up.Links);
            _statistics.Connected(up.Links.Choice, reconnect: false);
            _log.Info("page server {Peer}: connected{Tls}{Direct}; {Choice}", up.Links.Main.Client.Peer, TlsNote(up.Links.Main.Client), DirectNote(up.Links.Main.Client), up.Links.Choice);
            StartupTrace.Mark(StartupStep.FetcherServing);
            Become(Serving);
            Dispatch();
        });
        Receive<ConnectAttemptFailed>(failed =>
        {
            _log.Error("page server {Peer}: {Reason}", _endpoint, failed.Reason);
            Context.Parent.Tell(new ConnectFailed(_endpoint.ToString(), failed.Reason));
            Become(GivenUp);
        });
        Receive<Close>(_ => Sender.Tell(new Closed(false, "the source was never connected")));
    }

    /// <summary>Connected: reads are dispatched as the connections' budgets allow.</summary>
    private void Serving()
    {
        Receive<Read>(read =>
        {
            _injector?.ThrowIfFires(FaultPoint.RemoteFetchThrows, "the remote fetcher (a read)");
            Enqueue(read.Request);
            Dispatch();
        });
        Receive<PieceReceived>(OnPieceReceived);
        Receive<PieceFailed>(failed =>
        {
            if (IsCurrent(failed.Piece, failed.Generation))
            {
                LoseConnection(Describe(failed.Error));
            }
        });
        Receive<Close>(_ => StartClosing());
    }

    /// <summary>The connections failed: old readers are awaited, then reconnection attempts with a backoff.</summary>
    private void Recovering()
    {
        Receive<Read>(read => Enqueue(read.Request));
        Receive<PieceReceived>(_ => { });
        Receive<PieceFailed>(_ => { });
        Receive<LinksClosed>(closed =>
        {
            if (closed.Generation == _generation)
            {
                ScheduleReconnect();
            }
        });
        Receive<ReconnectNow>(_ =>
        {
            if (GiveUpIfLate())
            {
                return;
            }

            _reconnects++;
            StartConnecting();
        });
        Receive<LinksUp>(up =>
        {
            Install(up.Links);
            _statistics.Connected(up.Links.Choice, reconnect: true);
            _log.Warning("page server {Peer}: reconnected after {Seconds:0.000} s (attempt {Attempt}){Tls}; {Choice}; re-issuing {Requests} request(s)",
                up.Links.Main.Client.Peer, (_clock.Elapsed - (_lostAt ?? _clock.Elapsed)).TotalSeconds, _reconnects, TlsNote(up.Links.Main.Client), up.Links.Choice, _faults.Count + _background.Count);
            if (_faults.Count + _background.Count == 0)
            {
                _lostAt = null; // nothing to re-issue: the source is back, whatever comes next is a new story
            }

            Become(Serving);
            Dispatch();
        });
        Receive<ConnectAttemptFailed>(failed =>
        {
            _lastFailure = failed.Reason;
            _log.Warning("page server {Peer}: reconnection attempt {Attempt} failed: {Reason}", _endpoint, _reconnects, failed.Reason);
            if (!GiveUpIfLate())
            {
                ScheduleReconnect();
            }
        });
        Receive<Close>(_ =>
        {
            Sender.Tell(new Closed(false, $"the source was lost ({_lastFailure}) and not reconnected when the restore ended"));
            Become(Ended);
        });
    }

    /// <summary>Given up: reads stay pending until the parent stopped the tree and this actor.</summary>
    private void GivenUp()
    {
        Receive<Read>(read => Enqueue(read.Request));
        Receive<Close>(_ => Sender.Tell(new Closed(false, $"the source was given up: {_lastFailure}")));
        ReceiveAny(_ => { });
    }

    /// <summary>Closing the session(s): replies still on the wire arrive first, then the close status.</summary>
    private void Closing()
    {
        Receive<PieceReceived>(OnPieceReceivedWhileClosing);
        Receive<PieceFailed>(_ => { });
        Receive<Read>(read => Fail(read.Request, new PageServerException(Peer, "the session is closing; no new requests")));
        Receive<CloseDone>(done =>
        {
            FailAll(new PageServerException(Peer, "the session was closed"));
            if (done.Error is null)
            {
                _log.Info("page server {Peer}: session closed (status 0) after {Reconnects} reconnection(s)", Peer, _reconnects);
            }
            else
            {
                _log.Warning("page server {Peer}: closing the session failed: {Error}", Peer, done.Error);
            }

            _closeRequester.Tell(new Closed(done.Error is null, done.Error));
            _links = null;
            Become(Ended);
        });
        Receive<Close>(_ => { });
    }

    /// <summary>Closed or abandoned: reads fail at once.</summary>
    private void Ended()
    {
        Receive<Read>(read => Fail(read.Request, new PageServerException(Peer, "the session with the page server is over")));
        Receive<Close>(_ => Sender.Tell(new Closed(false, "the session is over")));
        ReceiveAny(_ => { });
    }

    private void StartConnecting()
    {
        var endpoint = _endpoint;
        var settings = _settings;
        var probe = _probe;
        var mode = _faultConnection;
        var token = _stopping.Token;
        var nice = _readerNice;
        _ = SourceConnector.ConnectAsync(endpoint, settings, nice, probe, mode, token).PipeTo(Self,
            success: links => new LinksUp(links),
            failure: error => new ConnectAttemptFailed(Describe(error)));
    }

    private void Install(SourceLinks links)
    {
        _generation++;
        _links = links;
        if (_faultConnection == FaultConnectionMode.Auto && links.Faults is null)
        {
            // A source that refused once is a single-connection source; do not probe it again after every reconnect.
            _faultConnection = FaultConnectionMode.Off;
        }
    }

    private void Enqueue(RemoteRead read)
    {
        _reads.Add(read);
        var piece = new WirePiece(read, 0, read.Pages);
        (piece.IsFault ? _faults : _background).AddLast(piece);
    }

    /// <summary>
    /// Sends what the connections' budgets allow: every fault at once (on the fault connection when there is one);
    /// background pieces cut to the connection's request size, within its bytes or count on the wire.
    /// </summary>
    private void Dispatch()
    {
        var links = _links!;
        var faultLink = links.Faults ?? links.Main;
        while (_faults.First is { } fault && faultLink.InFlight.Count < _settings.MaxRequestsInFlight)
        {
            _faults.RemoveFirst();
            if (!Send(faultLink, CutAtRunEnd(fault.Value, fault.Value.Pages, _faults)))
            {
                return;
            }
        }

        var shared = links.Faults is null;
        var pieceBytes = shared ? _settings.SharedBackgroundRequestBytes : _settings.BulkRequestBytes;
        var bulkBudget = shared ? 0 : _settings.BulkInFlightBytes / (1 + links.MoreBulk.Count);
        while (_background.First is { } next)
        {
            // The bulk connection with the fewest bytes on its wire (the only one, but with bulk-connections > 1).
            var bulk = links.Main;
            foreach (var other in links.MoreBulk)
            {
                if (other.BackgroundBytes < bulk.BackgroundBytes)
                {
                    bulk = other;
                }
            }

            var maxPages = pieceBytes >> PageGeometry.PageShift;
            var pages = _runGrid.Clamp(next.Value.Read.Pid, next.Value.DumpAddress, Math.Min(next.Value.Pages, maxPages));
            var bytes = (long)pages << PageGeometry.PageShift;
            if (bulk.InFlight.Count >= _settings.MaxRequestsInFlight
                || (shared ? bulk.BackgroundPieces >= _settings.SharedBackgroundInFlight
                           : bulk.BackgroundPieces > 0 && bulk.BackgroundBytes + bytes > bulkBudget))
            {
                return;
            }

            _background.RemoveFirst();
            if (!Send(bulk, CutAtRunEnd(next.Value, pages, _background)))
            {
                return;
            }
        }
    }

    /// <summary>
    /// The first <paramref name="pages"/> of <paramref name="piece"/>, at most up to the next run end the source is
    /// expected to clamp at (<see cref="SourceRunGrid"/>); the rest goes back to the front of <paramref name="queue"/>.
    /// </summary>
    private WirePiece CutAtRunEnd(WirePiece piece, int pages, LinkedList<WirePiece> queue)
    {
        pages = _runGrid.Clamp(piece.Read.Pid, piece.DumpAddress, pages);
        if (pages >= piece.Pages)
        {
            return piece;
        }

        queue.AddFirst(new WirePiece(piece.Read, piece.OffsetPages + pages, piece.Pages - pages));
        return new WirePiece(piece.Read, piece.OffsetPages, pages);
    }

    /// <summary>Puts one GET on the wire; false when the connection is already known to be gone.</summary>
    private bool Send(SourceLink link, WirePiece piece)
    {
        piece.Link = link;
        piece.Generation = _generation;
        piece.Sequence = ++_sequence;
        link.InFlight.AddLast(piece);
        if (!piece.IsFault)
        {
            link.BackgroundBytes += piece.Bytes;
            link.BackgroundPieces++;
        }

        if (_injector is not null && _injector.Fires(FaultPoint.ConnectionDrop, out _))
        {
            LoseConnection("injected: connection dropped");
            return false;
        }

        ValueTask<int> pending;
        try
        {
            var memory = new NativeMemoryManager(piece.Read.Buffer + (nint)((long)piece.OffsetPages << PageGeometry.PageShift), checked((int)piece.Bytes)).Memory;
            pending = link.Client.GetPagesAsync(piece.Read.Pid, piece.DumpAddress, piece.Pages, memory, CancellationToken.None);
        }
        catch (Exception e) when (e is PageServerException or ObjectDisposedException or InvalidOperationException)
        {
            LoseConnection(Describe(e));
            return false;
        }

        StartupTrace.Mark(StartupStep.FirstRequestSent);
        if (pending.IsCompletedSuccessfully)
        {
            Self.Tell(new PieceReceived(piece, piece.Generation, pending.Result));
        }
        else
        {
            _ = AwaitReplyAsync(pending, piece, piece.Generation, Self);
        }

        return true;
    }

    private static async Task AwaitReplyAsync(ValueTask<int> pending, WirePiece piece, int generation, IActorRef self)
    {
        try
        {
            var pages = await pending.ConfigureAwait(false);
            self.Tell(new PieceReceived(piece, generation, pages));
        }
        catch (Exception e)
        {
            self.Tell(new PieceFailed(piece, generation, e));
        }
    }

    private bool IsCurrent(WirePiece piece, int generation) => generation == _generation && piece.Generation == generation && piece.Link is not null;

    private void OnPieceReceived(PieceReceived received)
    {
        if (!IsCurrent(received.Piece, received.Generation))
        {
            return;
        }

        Settle(received.Piece, received.Pages);
        Dispatch();
    }

    private void OnPieceReceivedWhileClosing(PieceReceived received)
    {
        if (IsCurrent(received.Piece, received.Generation))
        {
            Settle(received.Piece, received.Pages);
        }
    }

    /// <summary>A reply arrived: the rest of a short one is asked again first, a complete read is handed on.</summary>
    private void Settle(WirePiece piece, int pages)
    {
        var link = piece.Link!;
        link.InFlight.Remove(piece);
        piece.Link = null;
        if (!piece.IsFault)
        {
            link.BackgroundBytes -= piece.Bytes;
            link.BackgroundPieces--;
        }

        if (_lostAt is not null)
        {
            _log.Info("page server {Peer}: serving again, {Seconds:0.000} s after the source was lost", Peer, (_clock.Elapsed - _lostAt.Value).TotalSeconds);
            _lostAt = null;
            _reconnectSchedule.Reset();
        }

        StartupTrace.Mark(StartupStep.FirstReplyReceived);
        var read = piece.Read;
        _statistics.Reply(pages, pages < piece.Pages);
        if (pages < piece.Pages)
        {
            // The source clamped the GET at the end of its run: the rest goes out next, ahead of its queue, and later
            // pieces are cut at the run ends this one tells of.
            _runGrid.Learn(read.Pid, piece.DumpAddress + ((ulong)pages << PageGeometry.PageShift));
            (piece.IsFault ? _faults : _background).AddFirst(new WirePiece(read, piece.OffsetPages + pages, piece.Pages - pages));
        }

        read.PagesLeft -= pages;
        if (read.PagesLeft == 0 && _reads.Remove(read))
        {
            read.Completion.TrySetResult();
        }
    }

    /// <summary>
    /// The connection generation failed: every piece on the wire goes back to the front of its queue in sending order,
    /// the clients are disposed (their readers end: no buffer is written any more), then reconnection starts.
    /// </summary>
    private void LoseConnection(string reason)
    {
        if (_links is not { } links)
        {
            return;
        }

        _lastFailure = reason;
        _lostAt ??= _clock.Elapsed;
        var onWire = links.All.SelectMany(l => l.InFlight).OrderByDescending(p => p.Sequence).ToList();
        foreach (var piece in onWire)
        {
            piece.Link = null;
            (piece.IsFault ? _faults : _background).AddFirst(piece);
        }

        _links = null;
        var generation = ++_generation;
        _log.Warning("page server {Peer}: connection lost: {Reason}; {Requests} request(s) were on the wire and will be re-issued{Then}",
            links.Main.Client.Peer, reason, onWire.Count, _endpoint.CanReconnect ? $"; reconnecting (giving up after {_settings.GiveUpAfter.TotalSeconds:0.###} s without a reply)" : string.Empty);
        var closed = Task.WhenAll(links.All.Select(l => l.Client.DisposeAsync().AsTask()));
        _closing.Add(closed);
        _ = closed.PipeTo(Self, success: () => new LinksClosed(generation), failure: _ => new LinksClosed(generation));
        Become(Recovering);
        if (!_endpoint.CanReconnect)
        {
            GiveUp($"{reason}; {_endpoint} cannot be connected again");
        }
    }

    private void ScheduleReconnect()
    {
        Timers.StartSingleTimer(ReconnectTimer, ReconnectNow.Instance, _reconnectSchedule.Next());
    }

    private bool GiveUpIfLate()
    {
        var waited = _clock.Elapsed - (_lostAt ?? _clock.Elapsed);
        if (waited < _settings.GiveUpAfter)
        {
            return false;
        }

        GiveUp($"{_lastFailure}; no reply for {waited.TotalSeconds:0.###} s and {_reconnects} reconnection attempt(s)");
        return true;
    }

    private void GiveUp(string reason)
    {
        _lastFailure = reason;
        var waited = _clock.Elapsed - (_lostAt ?? _clock.Elapsed);
        _log.Error("page server {Peer}: giving up: {Reason}; {Reads} read(s) wait for pages", _endpoint, reason, _reads.Count);
        Timers.CancelAll();
        Context.Parent.Tell(new SourceLost(_endpoint.ToString(), reason, waited, _reads.Count));
        Become(GivenUp);
    }

    private void StartClosing()
    {
        _closeRequester = Sender;
        var links = _links!;
        var force = _endpoint.IsInherited;
        var timeout = _settings.CloseTimeout;
        Become(Closing);
        _ = CloseAllAsync(links, force, timeout).PipeTo(Self, success: error => new CloseDone(error), failure: e => new CloseDone(Describe(e)));
    }

    /// <summary>Closes every connection (each answers with its own status); null when all answered 0.</summary>
    private static async Task<string?> CloseAllAsync(SourceLinks links, bool force, TimeSpan timeout)
    {
        var errors = new List<string>();
        foreach (var link in links.All.Reverse())
        {
            using var bound = new CancellationTokenSource(timeout);
            try
            {
                if (force)
                {
                    await link.Client.ForceCloseAsync(bound.Token).ConfigureAwait(false);
                }
                else
                {
                    await link.Client.CloseAsync(bound.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is PageServerException or OperationCanceledException or InvalidOperationException or ObjectDisposedException)
            {
                errors.Add($"{link}: {(e is OperationCanceledException ? $"no close status within {timeout.TotalSeconds:0.###} s" : e.Message)}");
            }
            finally
            {
                await link.Client.DisposeAsync().ConfigureAwait(false);
            }
        }

        return errors.Count == 0 ? null : string.Join("; ", errors);
    }

    private void Fail(RemoteRead read, Exception error)
    {
        _reads.Remove(read);
        read.Completion.TrySetException(error);
    }

    private void FailAll(Exception error)
    {
        foreach (var read in _reads)
        {
            read.Completion.TrySetException(error);
        }

        _reads.Clear();
        _faults.Clear();
        _background.Clear();
    }

    private static string DirectNote(PageServerClient client) => client.UsesDirectIo ? " (direct I/O: blocking recv/send)" : string.Empty;

    private static string TlsNote(PageServerClient client) => client.TlsSession is { } tls ? $" over TLS ({tls})" : string.Empty;

    private static string Describe(Exception error) => error switch
    {
        PageServerException p => p.Reason,
        AggregateException { InnerException: { } inner } => Describe(inner),
        _ => error.Message,
    };

    private sealed record LinksUp(SourceLinks Links) : INoSerializationVerificationNeeded;

    private sealed record ConnectAttemptFailed(string Reason) : INoSerializationVerificationNeeded;

    private sealed record LinksClosed(int Generation) : INoSerializationVerificationNeeded;

    private sealed record PieceReceived(WirePiece Piece, int Generation, int Pages) : INoSerializationVerificationNeeded;

    private sealed record PieceFailed(WirePiece Piece, int Generation, Exception Error) : INoSerializationVerificationNeeded;

    private sealed record CloseDone(string? Error) : INoSerializationVerificationNeeded;

    private sealed class ReconnectNow : INoSerializationVerificationNeeded
    {
        public static readonly ReconnectNow Instance = new();
    }
}
