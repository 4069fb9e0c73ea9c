using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Remoting.Wire;

namespace LazyActors.Engine.Actors.Remote;

/// <summary>
/// The page source of a remote restore over the Akka transport (<c>lazy-pages --transport akka</c>): the counterpart of
/// <see cref="RemoteFetchActor"/>, with the same parent protocol (<see cref="RemoteFetchActor.ConnectFailed"/>,
/// <see cref="RemoteFetchActor.SourceLost"/>, <see cref="RemoteFetchActor.Closed"/>) and the same reads, so the restore
/// path is the one of the CRIU-protocol transport. It talks to the source's <c>PageSourceActor</c> over Akka.Remote.
/// </summary>
/// <remarks>
/// <para>Faults are sent the moment they arrive and are served by the source ahead of every queued bulk request (its
/// priority mailbox). Bulk requests are cut to <c>remote.akka.bulk-request</c> and flow within a credit window of
/// <c>remote.akka.bulk-in-flight</c> bytes asked and unanswered: each reply frees credit, so the source never sends
/// more background data than the destination has buffers for, and a fault waits behind at most that window on the one
/// association. A reply's data (a <see cref="Google.Protobuf.ByteString"/> over the received frame) is copied once,
/// into the read's pinned buffer, which is then the UFFDIO_COPY source. Short replies are asked again for the rest.</para>
/// <para>Bulk connection (<c>remote.akka.bulk-connection</c>): once connected the fetcher asks the source where bulk
/// pages may be fetched; when it names a page server, background pieces go there instead (<see cref="AkkaBulkLink"/>:
/// remote.bulk-request pieces, remote.bulk-in-flight on the wire, no copy but the socket's), and only faults stay Akka
/// messages, on a connection of their own. A failed bulk connection is dropped; once its reader ended, what was on it
/// goes back to the front of the queue (over Akka messages until a new one is up) and a new one is asked for after
/// reconnect-backoff-max. A lost source drops it too; the reconnected source is asked again.</para>
/// <para>Recovery: Akka's failure detector (DeathWatch over remoting) reports a source whose heartbeats stopped as
/// <see cref="Terminated"/>; a request unanswered for <c>reply-timeout</c> counts as a loss too. Every request on the
/// wire goes back to the front of its queue in sending order, the source is looked up again with a backoff and the
/// requests re-issued, while the faulting tasks stay blocked. No read is ever failed while the source is being recovered
/// or after the give-up (the task would read zeros): after <c>give-up-after</c> without a reply the parent is told
/// <see cref="RemoteFetchActor.SourceLost"/> and stops the tree. A source that says it holds no data for a request
/// (<see cref="PageError"/>) is given up at once: asking again cannot help.</para>
/// <para>Phases: connecting → serving ⇄ recovering → given up; serving → ended (on <see cref="RemoteFetchActor.Close"/>).</para>
/// </remarks>
public sealed class AkkaFetchActor : EngineActor, IWithTimers
{
    private const string ReconnectTimer = "reconnect";
    private const string IdentifyTimer = "identify";
    private const string ReplyCheckTimer = "reply-check";
    private const string BulkRetryTimer = "bulk-retry";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ActorPath _sourcePath;
    private readonly RemoteFetchSettings _settings;
    private readonly RemotePageSource? _owner;
    private readonly RemoteStatistics _statistics;
    private readonly LinkedList<AkkaPiece> _faults = new();
    private readonly LinkedList<AkkaPiece> _background = new();
    private readonly Dictionary<ulong, AkkaPiece> _inFlight = [];
    private readonly HashSet<RemoteRead> _reads = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private IActorRef _source = ActorRefs.Nobody;
    private long _bulkBytesInFlight;
    private ulong _nextId;
    private long _identifyId;
    private TimeSpan? _lostAt;
    private string _lastFailure = "no failure";
    private readonly ReconnectSchedule _reconnectSchedule;
    private int _reconnects;
    private AkkaBulkLink? _bulk;
    private long _bulkAsk;
    private int _bulkGeneration;
    private readonly List<Task> _bulkClosing = [];

    /// <summary>Use <see cref="Props"/>. <paramref name="owner"/> is null for a child of a <see cref="ClusterFetchActor"/>, which owns the page source.</summary>
    public AkkaFetchActor(ActorPath sourcePath, RemoteFetchSettings settings, RemotePageSource? owner, RemoteStatistics statistics)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(statistics);
        _sourcePath = sourcePath;
        _settings = settings;
        _owner = owner;
        _statistics = statistics;
        _reconnectSchedule = new ReconnectSchedule(settings);
        Connecting();
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    private string Peer => _sourcePath.ToString();

    /// <summary>Props of the fetcher of the source actor at <paramref name="sourcePath"/> (on the engine's dispatcher).</summary>
    public static Props Props(ActorPath sourcePath, RemoteFetchSettings settings, RemotePageSource? owner, RemoteStatistics statistics) =>
        Akka.Actor.Props.Create(() => new AkkaFetchActor(sourcePath, settings, owner, statistics)).WithDispatcher(EngineSettings.DispatcherId);

    /// <inheritdoc />
    protected override void PreStart() => Identify(Remoting.AkkaTransport.FirstContactTimeout(_settings.ConnectTimeout));

    /// <inheritdoc />
    protected override void PostStop()
    {
        // Akka replies are copied on this actor's thread; bulk replies are read by the bulk link's reader, which may
        // write into a read's buffer until it ended: the owner keeps the buffers until then.
        if (_bulk is not null)
        {
            _bulkClosing.Add(_bulk.Drop().Closed);
            _bulk = null;
        }

        _owner?.OnFetcherStopped(Task.WhenAll(_bulkClosing));
        foreach (var read in _reads)
        {
            read.Completion.TrySetException(new PageServerException(Peer, "the remote fetcher stopped"));
        }

        _reads.Clear();
    }

    /// <summary>Looking the source actor up the first time; reads wait in the queues.</summary>
    private void Connecting()
    {
        Receive<RemoteFetchActor.Read>(read => Enqueue(read.Request));
        Receive<ActorIdentity>(identity =>
        {
            if (!IsCurrent(identity))
            {
                return;
            }

            if (identity.Subject is not { } source)
            {
                FirstConnectFailed($"no page source actor at {Peer} (is `page-server --transport akka` serving there?)");
                return;
            }

            Attach(source);
            _statistics.Connected("one Akka.Remote association: faults overtake queued bulk requests at the source, bulk flows within a credit window", reconnect: false);
            _log.Info("page source {Peer}: connected over Akka.Remote", Peer);
            Become(Serving);
            Dispatch();
        });
        Receive<IdentifyTimedOut>(timedOut =>
        {
            if (timedOut.Id == _identifyId)
            {
                FirstConnectFailed($"no answer within {Remoting.AkkaTransport.FirstContactTimeout(_settings.ConnectTimeout).TotalSeconds:0.###} s");
            }
        });
        Receive<RemoteFetchActor.Close>(_ => Sender.Tell(new RemoteFetchActor.Closed(false, "the source was never connected")));
    }

    /// <summary>Connected: reads are dispatched as the credit window allows; replies settle them.</summary>
    private void Serving()
    {
        Receive<RemoteFetchActor.Read>(read =>
        {
            Enqueue(read.Request);
            Dispatch();
        });
        Receive<PageReply>(reply =>
        {
            if (Settle(reply))
            {
                Dispatch();
            }
        });
        Receive<PageError>(error =>
        {
            if (_inFlight.ContainsKey(error.Id))
            {
                GiveUp($"the source holds no data for pid {error.Pid} at 0x{error.Vaddr:x}: {error.Reason}");
            }
        });
        Receive<Terminated>(terminated =>
        {
            if (terminated.ActorRef.Equals(_source))
            {
                LoseSource(terminated.AddressTerminated
                    ? "the source stopped answering (Akka's failure detector marked its node unreachable)"
                    : "the source actor stopped");
            }
        });
        Receive<CheckReplies>(_ => CheckReplyDeadline());
        Receive<ActorIdentity>(_ => { });
        Receive<IdentifyTimedOut>(_ => { });
        Receive<Remoting.Wire.BulkEndpoint>(OnBulkEndpoint);
        Receive<AkkaBulkLink.Up>(up =>
        {
            if (up.Ask != _bulkAsk || _bulk is not null)
            {
                DiscardBulk(up.Link);
                return;
            }

            _bulk = up.Link;
            _log.Info("page source {Peer}: bulk pages over {Bulk} (CRIU's page-server protocol); faults stay Akka messages", Peer, up.Link.Client.Peer);
            Dispatch();
        });
        Receive<AkkaBulkLink.ConnectFailed>(failed =>
        {
            if (failed.Ask == _bulkAsk)
            {
                _log.Warning("page source {Peer}: no bulk connection ({Reason}); bulk goes as Akka messages, asking again in {Seconds:0.###} s",
                    Peer, failed.Reason, _settings.ReconnectBackoffMax.TotalSeconds);
                Timers.StartSingleTimer(BulkRetryTimer, AkkaBulkLink.Retry.Instance, _settings.ReconnectBackoffMax);
            }
        });
        Receive<AkkaBulkLink.Received>(received =>
        {
            if (_bulk is { } link && received.Generation == link.Generation && received.Piece.BulkGeneration == link.Generation)
            {
                link.Answered(received.Piece);
                Account(received.Piece, received.Pages);
                Dispatch();
            }
        });
        Receive<AkkaBulkLink.Failed>(failed =>
        {
            if (_bulk is { } link && failed.Generation == link.Generation)
            {
                DropBulk(Describe(failed.Error));
                Timers.StartSingleTimer(BulkRetryTimer, AkkaBulkLink.Retry.Instance, _settings.ReconnectBackoffMin);
            }
        });
        Receive<AkkaBulkLink.Closed>(closed =>
        {
            RequeueFromBulk(closed);
            Dispatch();
        });
        Receive<AkkaBulkLink.Retry>(_ =>
        {
            if (_bulk is null)
            {
                AskBulkEndpoint();
            }
        });
        Receive<RemoteFetchActor.Close>(_ =>
        {
            Timers.CancelAll();
            if (_bulk is not null)
            {
                _bulkClosing.Add(_bulk.Drop().Closed);
                _bulk = null;
            }

            _log.Info("page source {Peer}: session ended after {Reconnects} reconnection(s)", Peer, _reconnects);
            Sender.Tell(new RemoteFetchActor.Closed(true, null));
            Become(Ended);
        });
    }

    /// <summary>The source was lost: lookups again with a backoff until it answers or the give-up time passed.</summary>
    private void Recovering()
    {
        Receive<RemoteFetchActor.Read>(read => Enqueue(read.Request));
        Receive<PageReply>(_ => { });
        Receive<PageError>(_ => { });
        Receive<Terminated>(_ => { });
        Receive<CheckReplies>(_ => { });
        Receive<AkkaBulkLink.Up>(up => DiscardBulk(up.Link));
        Receive<AkkaBulkLink.Closed>(RequeueFromBulk);
        Receive<AkkaBulkLink.Received>(_ => { });
        Receive<AkkaBulkLink.Failed>(_ => { });
        Receive<AkkaBulkLink.ConnectFailed>(_ => { });
        Receive<AkkaBulkLink.Retry>(_ => { });
        Receive<Remoting.Wire.BulkEndpoint>(_ => { });
        Receive<ReconnectNow>(_ =>
        {
            if (!GiveUpIfLate())
            {
                _reconnects++;
                Identify();
            }
        });
        Receive<ActorIdentity>(identity =>
        {
            if (!IsCurrent(identity))
            {
                return;
            }

            if (identity.Subject is not { } source)
            {
                // A source system that is still starting answers before its actor exists: one retry per attempt.
                Timers.Cancel(IdentifyTimer);
                RetryLater($"no page source actor at {Peer}");
                return;
            }

            Attach(source);
            _statistics.Connected("one Akka.Remote association: faults overtake queued bulk requests at the source, bulk flows within a credit window", reconnect: true);
            _log.Warning("page source {Peer}: reconnected after {Seconds:0.000} s (attempt {Attempt}); re-issuing {Requests} request(s)",
                Peer, (_clock.Elapsed - (_lostAt ?? _clock.Elapsed)).TotalSeconds, _reconnects, _faults.Count + _background.Count);
            if (_faults.Count + _background.Count == 0)
            {
                _lostAt = null;
            }

            Become(Serving);
            Dispatch();
        });
        Receive<IdentifyTimedOut>(timedOut =>
        {
            if (timedOut.Id == _identifyId)
            {
                RetryLater($"no answer within {_settings.ConnectTimeout.TotalSeconds:0.###} s");
            }
        });
        Receive<RemoteFetchActor.Close>(_ =>
        {
            Sender.Tell(new RemoteFetchActor.Closed(false, $"the source was lost ({_lastFailure}) and not reconnected when the restore ended"));
            Become(Ended);
        });
    }

    /// <summary>Given up: reads stay pending until the parent stopped the tree and this actor.</summary>
    private void GivenUp()
    {
        Receive<RemoteFetchActor.Read>(read => Enqueue(read.Request));
        Receive<RemoteFetchActor.Close>(_ => Sender.Tell(new RemoteFetchActor.Closed(false, $"the source was given up: {_lastFailure}")));
        Receive<AkkaBulkLink.Up>(up => DiscardBulk(up.Link));
        ReceiveAny(_ => { });
    }

    /// <summary>The session is over: reads fail at once.</summary>
    private void Ended()
    {
        Receive<RemoteFetchActor.Read>(read => read.Request.Completion.TrySetException(new PageServerException(Peer, "the session with the page source is over")));
        Receive<RemoteFetchActor.Close>(_ => Sender.Tell(new RemoteFetchActor.Closed(false, "the session is over")));
        Receive<AkkaBulkLink.Up>(up => DiscardBulk(up.Link));
        ReceiveAny(_ => { });
    }

    private void Identify(TimeSpan? timeout = null)
    {
        var id = ++_identifyId;
        Context.ActorSelection(_sourcePath).Tell(new Identify(id));
        Timers.StartSingleTimer(IdentifyTimer, new IdentifyTimedOut(id), timeout ?? _settings.ConnectTimeout);
    }

    private bool IsCurrent(ActorIdentity identity) => identity.MessageId is long id && id == _identifyId;

    private void Attach(IActorRef source)
    {
        Timers.Cancel(IdentifyTimer);
        _source = source;
        Context.Watch(source);
        Timers.StartPeriodicTimer(ReplyCheckTimer, CheckReplies.Instance, ReplyCheckInterval(_settings.ReplyTimeout));
        AskBulkEndpoint();
    }

    /// <summary>Asks the source where bulk pages may be fetched (when bulk-connection is on); older answers are ignored.</summary>
    private void AskBulkEndpoint()
    {
        ++_bulkAsk;
        if (_settings.Akka.BulkConnection && !_source.IsNobody())
        {
            _source.Tell(new Remoting.Wire.BulkEndpointRequest { RequestId = (ulong)_bulkAsk }, Self);
        }
    }

    private void OnBulkEndpoint(Remoting.Wire.BulkEndpoint endpoint)
    {
        if ((long)endpoint.RequestId != _bulkAsk || _bulk is not null)
        {
            return;
        }

        if (endpoint.Port is 0 or > 65535)
        {
            _log.Info("page source {Peer}: offers no bulk connection; bulk pages go as Akka messages", Peer);
            return;
        }

        var host = endpoint.Host.Length > 0 ? endpoint.Host : _source.Path.Address.Host ?? _sourcePath.Address.Host ?? "127.0.0.1";
        long ask = _bulkAsk;
        int generation = ++_bulkGeneration;
        _ = AkkaBulkLink.ConnectAsync(host, (int)endpoint.Port, generation, _settings)
            .PipeTo(Self, success: link => new AkkaBulkLink.Up(link, ask), failure: e => new AkkaBulkLink.ConnectFailed(Describe(e), ask));
    }

    /// <summary>Drops the bulk connection; what was on it is asked again once its reader ended (<see cref="AkkaBulkLink.Closed"/>).</summary>
    private void DropBulk(string reason)
    {
        if (_bulk is not { } link)
        {
            return;
        }

        _bulk = null;
        ++_bulkAsk; // a connection still being made for an older answer is discarded when it comes up
        var (closed, pieces) = link.Drop();
        _bulkClosing.Add(closed);
        _log.Warning("page source {Peer}: bulk connection {Bulk} lost: {Reason}; {Pieces} request(s) on it will be asked again",
            Peer, link.Client.Peer, reason, pieces.Count);
        _ = closed.PipeTo(Self, success: () => new AkkaBulkLink.Closed(pieces), failure: _ => new AkkaBulkLink.Closed(pieces));
    }

    private void DiscardBulk(AkkaBulkLink link) => _bulkClosing.Add(link.Drop().Closed);

    private void RequeueFromBulk(AkkaBulkLink.Closed closed)
    {
        for (int i = closed.Pieces.Count - 1; i >= 0; i--)
        {
            var piece = closed.Pieces[i];
            _background.AddFirst(new AkkaPiece(piece.Read, piece.OffsetPages, piece.Pages));
        }
    }

    private static string Describe(Exception error) => error switch
    {
        PageServerException p => p.Reason,
        AggregateException { InnerException: { } inner } => Describe(inner),
        _ => error.Message,
    };

    private void FirstConnectFailed(string reason)
    {
        _log.Error("page source {Peer}: {Reason}", Peer, reason);
        Context.Parent.Tell(new RemoteFetchActor.ConnectFailed(Peer, reason));
        _lastFailure = reason;
        Become(GivenUp);
    }

    private void Enqueue(RemoteRead read)
    {
        _reads.Add(read);
        var piece = new AkkaPiece(read, 0, read.Pages);
        (piece.IsFault ? _faults : _background).AddLast(piece);
    }

    /// <summary>Every fault at once; bulk pieces cut to bulk-request while the credit window has room.</summary>
    private void Dispatch()
    {
        var akka = _settings.Akka;
        int replyPages = Math.Max(akka.MaxReplyBytes >> PageGeometry.PageShift, 1);
        while (_faults.First is { } fault)
        {
            _faults.RemoveFirst();
            var piece = fault.Value;
            // A fault's read (with its read-ahead) may be larger than one reply: every piece goes at once, so the task
            // waits about one round trip, not one per reply.
            for (int offset = 0; offset < piece.Pages; offset += replyPages)
            {
                Send(offset == 0 && piece.Pages <= replyPages
                    ? piece
                    : new AkkaPiece(piece.Read, piece.OffsetPages + offset, Math.Min(replyPages, piece.Pages - offset)));
            }
        }

        if (_bulk is { } link)
        {
            DispatchBulk(link);
            return;
        }

        int maxPages = akka.BulkRequestBytes >> PageGeometry.PageShift;
        while (_background.First is { } next)
        {
            int pages = Math.Min(next.Value.Pages, maxPages);
            long bytes = (long)pages << PageGeometry.PageShift;
            if (_bulkBytesInFlight > 0 && _bulkBytesInFlight + bytes > akka.BulkInFlightBytes)
            {
                return;
            }

            _background.RemoveFirst();
            var piece = next.Value;
            if (pages < piece.Pages)
            {
                _background.AddFirst(new AkkaPiece(piece.Read, piece.OffsetPages + pages, piece.Pages - pages));
                piece = new AkkaPiece(piece.Read, piece.OffsetPages, pages);
            }

            Send(piece);
        }
    }

    /// <summary>Background pieces on the bulk connection while it has room.</summary>
    private void DispatchBulk(AkkaBulkLink link)
    {
        int maxPages = link.MaxPiecePages;
        while (_background.First is { } next)
        {
            int pages = Math.Min(next.Value.Pages, maxPages);
            if (!link.HasRoomFor((long)pages << PageGeometry.PageShift))
            {
                return;
            }

            _background.RemoveFirst();
            var piece = next.Value;
            if (pages < piece.Pages)
            {
                _background.AddFirst(new AkkaPiece(piece.Read, piece.OffsetPages + pages, piece.Pages - pages));
                piece = new AkkaPiece(piece.Read, piece.OffsetPages, pages);
            }

            if (!link.Send(piece, Self))
            {
                return;
            }
        }
    }

    private void Send(AkkaPiece piece)
    {
        piece.Id = ++_nextId;
        piece.SentAt = _clock.Elapsed;
        _inFlight.Add(piece.Id, piece);
        if (!piece.IsFault)
        {
            _bulkBytesInFlight += piece.Bytes;
        }

        _source.Tell(new Remoting.Wire.PageRequest
        {
            Id = piece.Id,
            Pid = piece.Read.Pid,
            Vaddr = piece.DumpAddress,
            Pages = (uint)piece.Pages,
            Priority = piece.IsFault ? Priority.Fault : Priority.Bulk,
        }, Self);
    }

    /// <summary>Copies a reply into its read's buffer; false for a stale one (a request of a lost association).</summary>
    private bool Settle(PageReply reply)
    {
        if (!_inFlight.Remove(reply.Id, out var piece))
        {
            return false;
        }

        if (!piece.IsFault)
        {
            _bulkBytesInFlight -= piece.Bytes;
        }

        int pages = (int)reply.Pages;
        if (reply.Pid != piece.Read.Pid || reply.Vaddr != piece.DumpAddress || pages < 1 || pages > piece.Pages
            || reply.Data.Length != (long)pages << PageGeometry.PageShift)
        {
            // Never copy what does not answer the request exactly: a broken source is recovered from like a dead one.
            _inFlight.Add(piece.Id, piece);
            if (!piece.IsFault)
            {
                _bulkBytesInFlight += piece.Bytes;
            }

            LoseSource($"a malformed reply to pid {piece.Read.Pid} 0x{piece.DumpAddress:x}+{piece.Pages}p: pid {reply.Pid} 0x{reply.Vaddr:x}, {reply.Pages} page(s), {reply.Data.Length} byte(s)");
            return false;
        }

        unsafe
        {
            var target = new Span<byte>((void*)(piece.Read.Buffer + (nint)((long)piece.OffsetPages << PageGeometry.PageShift)), reply.Data.Length);
            reply.Data.Span.CopyTo(target);
        }

        Account(piece, pages);
        return true;
    }

    /// <summary><paramref name="pages"/> pages of <paramref name="piece"/> are in its read's buffer: the rest is asked again, a complete read handed on.</summary>
    private void Account(AkkaPiece piece, int pages)
    {
        if (_lostAt is not null)
        {
            _log.Info("page source {Peer}: serving again, {Seconds:0.000} s after the source was lost", Peer, (_clock.Elapsed - _lostAt.Value).TotalSeconds);
            _lostAt = null;
            _reconnectSchedule.Reset();
        }

        _statistics.Reply(pages, pages < piece.Pages);
        if (pages < piece.Pages)
        {
            (piece.IsFault ? _faults : _background).AddFirst(new AkkaPiece(piece.Read, piece.OffsetPages + pages, piece.Pages - pages));
        }

        var read = piece.Read;
        read.PagesLeft -= pages;
        if (read.PagesLeft == 0 && _reads.Remove(read))
        {
            read.Completion.TrySetResult();
        }
    }

    private void CheckReplyDeadline()
    {
        var oldest = TimeSpan.MaxValue;
        foreach (var piece in _inFlight.Values)
        {
            if (piece.SentAt < oldest)
            {
                oldest = piece.SentAt;
            }
        }

        if (oldest != TimeSpan.MaxValue && _clock.Elapsed - oldest > _settings.ReplyTimeout)
        {
            LoseSource($"no reply for {(_clock.Elapsed - oldest).TotalSeconds:0.###} s (reply-timeout {_settings.ReplyTimeout.TotalSeconds:0.###} s)");
        }
    }

    /// <summary>
    /// The source is gone or stalled: every request on the wire goes back to the front of its queue in sending order,
    /// then the source is looked up again with a backoff.
    /// </summary>
    private void LoseSource(string reason)
    {
        _lastFailure = reason;
        _lostAt ??= _clock.Elapsed;
        var onWire = _inFlight.Values.OrderByDescending(p => p.Id).ToList();
        foreach (var piece in onWire)
        {
            (piece.IsFault ? _faults : _background).AddFirst(new AkkaPiece(piece.Read, piece.OffsetPages, piece.Pages));
        }

        _inFlight.Clear();
        _bulkBytesInFlight = 0;
        DropBulk("the source was lost");
        Timers.Cancel(BulkRetryTimer);
        Context.Unwatch(_source);
        _source = ActorRefs.Nobody;
        Timers.Cancel(ReplyCheckTimer);
        _log.Warning("page source {Peer}: lost: {Reason}; {Requests} request(s) were on the wire and will be re-issued; reconnecting (giving up after {GiveUp:0.###} s without a reply)",
            Peer, reason, onWire.Count, _settings.GiveUpAfter.TotalSeconds);
        Become(Recovering);
        ScheduleReconnect();
    }

    private void RetryLater(string reason)
    {
        _lastFailure = reason;
        _log.Warning("page source {Peer}: reconnection attempt {Attempt} failed: {Reason}", Peer, _reconnects, reason);
        if (!GiveUpIfLate())
        {
            ScheduleReconnect();
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
        _log.Error("page source {Peer}: giving up: {Reason}; {Reads} read(s) wait for pages", Peer, reason, _reads.Count);
        Timers.CancelAll();
        if (_bulk is not null)
        {
            _bulkClosing.Add(_bulk.Drop().Closed);
            _bulk = null;
        }

        if (!_source.IsNobody())
        {
            Context.Unwatch(_source);
        }

        Context.Parent.Tell(new RemoteFetchActor.SourceLost(Peer, reason, waited, _reads.Count));
        Become(GivenUp);
    }

    /// <summary>Often enough that a stalled reply is noticed within about a quarter of reply-timeout past it.</summary>
    private static TimeSpan ReplyCheckInterval(TimeSpan replyTimeout) =>
        TimeSpan.FromTicks(Math.Clamp(replyTimeout.Ticks / 4, TimeSpan.FromMilliseconds(50).Ticks, TimeSpan.FromSeconds(1).Ticks));

    private sealed record IdentifyTimedOut(long Id) : INoSerializationVerificationNeeded;

    private sealed class CheckReplies : INoSerializationVerificationNeeded
    {
        public static readonly CheckReplies Instance = new();
    }

    private sealed class ReconnectNow : INoSerializationVerificationNeeded
    {
        public static readonly ReconnectNow Instance = new();
    }
}

/// <summary>A part of a <see cref="RemoteRead"/> asked with one <see cref="Remoting.Wire.PageRequest"/> (owned by <see cref="AkkaFetchActor"/>).</summary>
internal sealed class AkkaPiece(RemoteRead read, int offsetPages, int pages)
{
    public RemoteRead Read { get; } = read;

    public int OffsetPages { get; } = offsetPages;

    public int Pages { get; } = pages;

    public ulong DumpAddress => Read.DumpAddress + ((ulong)OffsetPages << PageGeometry.PageShift);

    public long Bytes => (long)Pages << PageGeometry.PageShift;

    public bool IsFault => Read.Priority == LazyActors.Engine.Pages.ReadPriority.Fault;

    /// <summary>The request id while on the wire.</summary>
    public ulong Id { get; set; }

    /// <summary>When it was sent (the fetcher's clock).</summary>
    public TimeSpan SentAt { get; set; }

    /// <summary>The generation of the bulk link it was sent on, or 0 (sent as an Akka message).</summary>
    public int BulkGeneration { get; set; }
}
