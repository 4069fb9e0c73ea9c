using Akka.Actor;
using Akka.Event;
using Google.Protobuf;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Remoting.Cluster;
using LazyActors.Engine.Remoting.Cluster.Wire;
using LazyActors.Engine.Remoting.Wire;
using PageRequest = LazyActors.Engine.Remoting.Wire.PageRequest;

namespace LazyActors.Engine.Actors.Remote;

/// <summary>
/// The page source of a restore over the Akka transport in a cluster (<c>lazy-pages --transport akka --cluster</c>):
/// same parent protocol as <see cref="AkkaFetchActor"/>, but a page may come from another destination of the same
/// checkpoint instead of the source, so restoring one checkpoint on N destinations at once costs the source about one
/// copy of its lazy pages, not N.
/// </summary>
/// <remarks>
/// <para>Pages are fetched, held and served in <see cref="ChunkMap"/> chunks, kept in a <see cref="ChunkStore"/> (the
/// restore's reads are copied out of it). Where a chunk comes from: a peer that holds it (the registry's held bitmaps),
/// else its home destination (chunk number modulo the live destinations, in address order: every destination computes
/// the same home, so each fetches its share from the source and asks the others for the rest, with no race to ask the
/// source twice), else the source. A peer asked for a chunk it does not hold fetches it from the source at once with the
/// asker's priority (it is that chunk's home), never from another peer, so requests never go round in a circle.</para>
/// <para>Every source and peer is talked to through an <see cref="AkkaFetchActor"/> child (faults first, the credit
/// window, short replies, reconnection). A peer that becomes unreachable, leaves, or fails a request is given up for this
/// restore: its child is stopped, which fails its outstanding chunk reads, and those chunks are asked of the source (or
/// another peer). A source that leaves while another node serves the same checkpoint is replaced the same way; with no
/// other source, its child's own recovery and give-up rules apply unchanged (blocked tasks, never zeros, a clear stop).</para>
/// <para>After the restore, the destination keeps serving until every other live destination holds every chunk (or
/// peer-linger, bounded by the close wait), so a slower peer does not fall back to the source for the rest.</para>
/// <para>Phases: serving → lingering (on <see cref="RemoteFetchActor.Close"/>) → ended.</para>
/// </remarks>
public sealed class ClusterFetchActor : EngineActor, IWithTimers
{
    private const string PublishTimer = "publish";
    private const string LingerTimer = "linger";
    private const byte Missing = 0;
    private const byte Fetching = 1;
    private const byte Held = 2;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _checkpoint;
    private readonly ChunkMap _map;
    private readonly ClusterSettings _cluster;
    private readonly RemoteFetchSettings _settings;
    private readonly RemotePageSource _owner;
    private readonly RemoteStatistics _statistics;
    private readonly FanOutCounters _counters;
    private readonly ChunkStore _store;
    private readonly byte[] _state;
    private readonly byte[] _held;
    private readonly Dictionary<int, ChunkWait> _waits = [];
    private readonly Dictionary<int, List<Attempt>> _attempts = [];
    private readonly Dictionary<RemoteRead, ReadTracker> _direct = [];
    private readonly HashSet<ReadTracker> _pending = [];
    private readonly Dictionary<Address, IActorRef> _peerChildren = [];
    private readonly Dictionary<IActorRef, Address> _childPeers = [];
    private readonly HashSet<Address> _failedPeers = [];
    private readonly Queue<(int Chunk, bool ForPeer)> _bulkQueue = new();
    private readonly HashSet<int> _queued = [];
    private readonly Address _self;
    private ActorSelection _registry = null!;
    private ActorPath _sourcePath;
    private IActorRef _source = ActorRefs.Nobody;
    private CheckpointRegistryActor.View? _view;
    private List<Address> _homes = [];
    private int _heldChunks;
    private bool _dirty;
    private long _nextAttempt;
    private int _children;
    private int _bulkInFlight;
    private IActorRef _closeAsker = ActorRefs.Nobody;

    /// <summary>Use <see cref="Props"/>.</summary>
    public ClusterFetchActor(string checkpoint, ActorPath sourcePath, ChunkMap map, ClusterSettings cluster, RemoteFetchSettings settings,
        RemotePageSource owner, RemoteStatistics statistics, FanOutCounters counters)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(statistics);
        ArgumentNullException.ThrowIfNull(counters);
        _checkpoint = checkpoint;
        _sourcePath = sourcePath;
        _map = map;
        _cluster = cluster;
        _settings = settings;
        _owner = owner;
        _statistics = statistics;
        _counters = counters;
        _store = new ChunkStore(map.TotalBytes);
        _state = new byte[map.Count];
        _held = new byte[(map.Count + 7) / 8];
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfAddress;
        Serving();
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props of the fetcher of <paramref name="checkpoint"/>, first from the source at <paramref name="sourcePath"/> (on the engine's dispatcher).</summary>
    public static Props Props(string checkpoint, ActorPath sourcePath, ChunkMap map, ClusterSettings cluster, RemoteFetchSettings settings,
        RemotePageSource owner, RemoteStatistics statistics, FanOutCounters counters) =>
        Akka.Actor.Props.Create(() => new ClusterFetchActor(checkpoint, sourcePath, map, cluster, settings, owner, statistics, counters)).WithDispatcher(EngineSettings.DispatcherId);

    /// <inheritdoc />
    protected override void PreStart()
    {
        _source = NewChild(_sourcePath, "source");
        _registry = Context.System.ActorSelection("/user/" + CheckpointRegistryActor.Name);
        _registry.Tell(new CheckpointRegistryActor.Subscribe(_checkpoint), Self);
        Context.System.ActorSelection("/user/" + PeerPagesActor.Name).Tell(new PeerPagesActor.Attach(Self), Self);
        // Peers count this destination (ask it, wait for it) from now on.
        _dirty = true;
        PublishHeld();
        Timers.StartPeriodicTimer(PublishTimer, Publish.Instance, _cluster.PublishInterval);
        _log.Info("cluster restore of checkpoint '{Checkpoint}': {Chunks} chunk(s) of up to {ChunkKiB} KiB, {MiB:0.0} MiB lazy; first source {FirstSource}",
            _checkpoint, _map.Count, _map.ChunkPages * 4, _map.TotalBytes / 1048576.0, _sourcePath);
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        // The children (the only writers into the store and the reads' buffers) stopped before this runs.
        _owner.OnFetcherStopped(Task.CompletedTask);
        foreach (var tracker in _pending)
        {
            tracker.Read.Completion.TrySetException(new PageServerException(_sourcePath.ToString(), "the cluster fetcher stopped"));
        }

        _pending.Clear();
        _store.Dispose();
    }

    private void Serving()
    {
        Receive<RemoteFetchActor.Read>(read => OnRead(read.Request));
        Receive<PageRequest>(ServePeer);
        Receive<AttemptDone>(OnAttemptDone);
        Receive<DirectDone>(OnDirectDone);
        Receive<CheckpointRegistryActor.View>(OnView);
        Receive<RemoteFetchActor.ConnectFailed>(failed => ChildFailed(failed, $"cannot connect: {failed.Reason}"));
        Receive<RemoteFetchActor.SourceLost>(lost => ChildFailed(lost, lost.Reason));
        Receive<Publish>(_ => PublishHeld());
        Receive<RemoteFetchActor.Close>(_ => BeginClose());
    }

    /// <summary>The restore is over; peers that still restore the checkpoint are served until they hold it all.</summary>
    private void Lingering()
    {
        Receive<RemoteFetchActor.Read>(read => read.Request.Completion.TrySetException(new PageServerException(_sourcePath.ToString(), "the session with the page source is over")));
        Receive<PageRequest>(ServePeer);
        Receive<AttemptDone>(OnAttemptDone);
        Receive<DirectDone>(_ => { });
        Receive<CheckpointRegistryActor.View>(view =>
        {
            OnView(view);
            if (NoPeerNeedsUs())
            {
                EndClose("every other destination holds the checkpoint");
            }
        });
        Receive<RemoteFetchActor.ConnectFailed>(failed => ChildFailed(failed, failed.Reason));
        Receive<RemoteFetchActor.SourceLost>(lost => ChildFailed(lost, lost.Reason));
        Receive<Publish>(_ => PublishHeld());
        Receive<LingerOver>(_ => EndClose($"peer-linger passed"));
        Receive<RemoteFetchActor.Close>(_ => Sender.Tell(new RemoteFetchActor.Closed(false, "the session is closing")));
    }

    private void Ended()
    {
        Receive<RemoteFetchActor.Read>(read => read.Request.Completion.TrySetException(new PageServerException(_sourcePath.ToString(), "the session with the page source is over")));
        Receive<PageRequest>(request => Sender.Tell(new PageError { Id = request.Id, Pid = request.Pid, Vaddr = request.Vaddr, Reason = "this destination's restore is over" }));
        Receive<RemoteFetchActor.Close>(_ => Sender.Tell(new RemoteFetchActor.Closed(false, "the session is over")));
        ReceiveAny(_ => { });
    }

    private void OnRead(RemoteRead read)
    {
        var tracker = new ReadTracker(read) { Parts = 1 };
        _pending.Add(tracker);
        var ready = new List<(ReadPart Part, int Chunk)>();
        int done = 0;
        while (done < read.Pages)
        {
            ulong address = read.DumpAddress + ((ulong)done << PageGeometry.PageShift);
            int left = read.Pages - done;
            if (_map.TryFind(read.Pid, address, out int chunk, out int pageInChunk))
            {
                int pages = Math.Min(left, _map[chunk].Pages - pageInChunk);
                var part = new ReadPart(tracker, (long)done << PageGeometry.PageShift, pageInChunk, pages);
                tracker.Parts++;
                if (_state[chunk] == Held)
                {
                    ready.Add((part, chunk));
                }
                else
                {
                    WaitOf(chunk).Parts.Add(part);
                    EnsureFetching(chunk, read.Priority, forPeer: false);
                }

                done += pages;
            }
            else
            {
                // Not a lazy page of the map (the restore never asks for one): straight from the source into the read.
                int pages = _map.PagesUntilMapped(read.Pid, address, left);
                tracker.Parts++;
                SendDirect(new RemoteRead(read.Pid, address, pages, read.Priority, read.Buffer + (nint)((long)done << PageGeometry.PageShift)), tracker);
                done += pages;
            }
        }

        foreach (var (part, chunk) in ready)
        {
            CopyOut(part, chunk);
            PartDone(part.Tracker);
        }

        PartDone(tracker);
    }

    private void SendDirect(RemoteRead direct, ReadTracker tracker)
    {
        _direct[direct] = tracker;
        var self = Self;
        _source.Tell(new RemoteFetchActor.Read(direct), Self);
        _ = direct.Completion.Task.ContinueWith(
            t => self.Tell(new DirectDone(direct, t.IsCompletedSuccessfully ? null : t.Exception?.GetBaseException().Message ?? "cancelled")),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void OnDirectDone(DirectDone done)
    {
        if (!_direct.Remove(done.Read, out var tracker))
        {
            return;
        }

        if (done.Error is null)
        {
            _counters.Received(fromPeer: false, (long)done.Read.Pages << PageGeometry.PageShift);
            PartDone(tracker);
            return;
        }

        // Its source child was stopped (another source took over): asked again of the current one.
        var read = done.Read;
        SendDirect(new RemoteRead(read.Pid, read.DumpAddress, read.Pages, read.Priority, read.Buffer), tracker);
    }

    private void ServePeer(PageRequest request)
    {
        if (!_map.TryFind(request.Pid, request.Vaddr, out int chunk, out int pageInChunk))
        {
            _log.Error("peer {Peer} asked pid {Pid} 0x{Vaddr:x}+{Pages}p, which is no lazy page of checkpoint '{Checkpoint}'", Sender.Path.Address, request.Pid, request.Vaddr, request.Pages, _checkpoint);
            Sender.Tell(new PageError { Id = request.Id, Pid = request.Pid, Vaddr = request.Vaddr, Reason = $"not a lazy page of checkpoint '{_checkpoint}'" });
            return;
        }

        if (_state[chunk] == Held)
        {
            ReplyToPeer(Sender, request, chunk, pageInChunk);
            return;
        }

        WaitOf(chunk).Peers.Add((Sender, request));
        EnsureFetching(chunk, request.Priority == Priority.Fault ? ReadPriority.Fault : ReadPriority.Background, forPeer: true);
    }

    private void ReplyToPeer(IActorRef asker, PageRequest request, int chunk, int pageInChunk)
    {
        var c = _map[chunk];
        int pages = (int)Math.Min(Math.Min(request.Pages, (uint)(c.Pages - pageInChunk)), (uint)Math.Max(_settings.Akka.MaxReplyBytes >> PageGeometry.PageShift, 1));
        int bytes = pages << PageGeometry.PageShift;
        // A copy: the reply is serialized later, on the remoting's thread, and the store goes with this actor.
        var data = ByteString.CopyFrom(_store.Span(c.StoreOffset + ((long)pageInChunk << PageGeometry.PageShift), bytes));
        asker.Tell(new PageReply { Id = request.Id, Pid = request.Pid, Vaddr = request.Vaddr, Pages = (uint)pages, Data = data }, Self);
        _counters.Served(bytes);
    }

    /// <summary>Starts fetching <paramref name="chunk"/> unless it is held or on its way.</summary>
    private void EnsureFetching(int chunk, ReadPriority priority, bool forPeer)
    {
        if (_state[chunk] == Held)
        {
            return;
        }

        if (_state[chunk] == Fetching && _queued.Contains(chunk))
        {
            if (priority == ReadPriority.Fault)
            {
                _queued.Remove(chunk);
                Start(chunk, forPeer ? null : Route(chunk), priority);
            }

            return;
        }

        if (_state[chunk] == Fetching)
        {
            // A peer asks for a chunk this node asks a peer for (their views of who is home differ for a moment): the
            // source is asked too, so two destinations never wait for each other. Both copies are the same bytes.
            if (forPeer && _attempts.TryGetValue(chunk, out var attempts) && attempts.TrueForAll(a => a.Peer is not null))
            {
                Start(chunk, null, priority);
            }

            return;
        }

        if (priority == ReadPriority.Background && _bulkInFlight >= MaxBulkInFlight)
        {
            // Held back here rather than queued in a child: a fault for it can still go first (see below).
            _state[chunk] = Fetching;
            _queued.Add(chunk);
            _bulkQueue.Enqueue((chunk, forPeer));
            return;
        }

        Start(chunk, forPeer ? null : Route(chunk), priority);
    }

    /// <summary>
    /// Background chunks on the wire at once, over every source and peer: the credit window of one association. A fault
    /// for a chunk held back behind it is sent at once with its priority, so it waits behind at most this much.
    /// </summary>
    private int MaxBulkInFlight => (int)Math.Max(1, _settings.Akka.BulkInFlightBytes / ((long)_map.ChunkPages << PageGeometry.PageShift));

    /// <summary>Sends held-back background chunks while the window has room.</summary>
    private void PumpBulk()
    {
        while (_bulkInFlight < MaxBulkInFlight && _bulkQueue.TryDequeue(out var next))
        {
            if (!_queued.Remove(next.Chunk))
            {
                continue; // sent already, as a fault's
            }

            _state[next.Chunk] = Missing;
            EnsureFetching(next.Chunk, ReadPriority.Background, next.ForPeer);
        }
    }

    /// <summary>A peer holding the chunk; else its home destination when that is another node; else the source (null).</summary>
    private Address? Route(int chunk)
    {
        if (_view is not null)
        {
            foreach (var node in _view.Destinations)
            {
                if (!node.IsSelf && node.Entry.Restoring && !_failedPeers.Contains(node.Node) && Holds(node.Entry, chunk))
                {
                    return node.Node;
                }
            }
        }

        if (_homes.Count > 1)
        {
            var home = _homes[chunk % _homes.Count];
            if (!home.Equals(_self))
            {
                return home;
            }
        }

        return null;
    }

    private bool Holds(RegistryEntry entry, int chunk)
    {
        if (entry.Complete)
        {
            return entry.ChunkPages == (uint)_map.ChunkPages;
        }

        return entry.ChunkPages == (uint)_map.ChunkPages && (chunk >> 3) < entry.Held.Length && (entry.Held[chunk >> 3] & (1 << (chunk & 7))) != 0;
    }

    private void Start(int chunk, Address? peer, ReadPriority priority)
    {
        var child = peer is null ? _source : PeerChild(peer);
        var c = _map[chunk];
        var read = new RemoteRead(c.Pid, c.Vaddr, c.Pages, priority, _store.At(c.StoreOffset));
        var attempt = new Attempt(++_nextAttempt, peer, read);
        if (priority == ReadPriority.Background)
        {
            _bulkInFlight++;
        }

        if (!_attempts.TryGetValue(chunk, out var attempts))
        {
            attempts = [];
            _attempts[chunk] = attempts;
        }

        attempts.Add(attempt);
        _state[chunk] = Fetching;
        var self = Self;
        child.Tell(new RemoteFetchActor.Read(read), Self);
        _ = read.Completion.Task.ContinueWith(
            t => self.Tell(new AttemptDone(chunk, attempt.Id, t.IsCompletedSuccessfully ? null : t.Exception?.GetBaseException().Message ?? "cancelled")),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void OnAttemptDone(AttemptDone done)
    {
        if (!_attempts.TryGetValue(done.Chunk, out var attempts) || attempts.Find(a => a.Id == done.Attempt) is not { } attempt)
        {
            return;
        }

        attempts.Remove(attempt);
        if (attempt.Read.Priority == ReadPriority.Background)
        {
            _bulkInFlight--;
            PumpBulk();
        }

        if (done.Error is null)
        {
            // Another attempt still on its way writes the same bytes into the same place; it is not waited for.
            _attempts.Remove(done.Chunk);
            _state[done.Chunk] = Held;
            _held[done.Chunk >> 3] |= (byte)(1 << (done.Chunk & 7));
            _heldChunks++;
            _dirty = true;
            _counters.Received(attempt.Peer is not null, _map[done.Chunk].Bytes);
            if (_heldChunks == _map.Count)
            {
                PublishHeld();
            }

            Deliver(done.Chunk);
            return;
        }

        if (attempt.Peer is { } peer)
        {
            GiveUpPeer(peer, done.Error);
        }

        if (attempts.Count > 0)
        {
            return;
        }

        _attempts.Remove(done.Chunk);
        _state[done.Chunk] = Missing;
        if (_waits.TryGetValue(done.Chunk, out var wait))
        {
            // Asked again: of the source (or another peer) once the peer is given up, of the current source after a switch.
            EnsureFetching(done.Chunk, wait.Priority, forPeer: wait.Parts.Count == 0);
        }
    }

    private void Deliver(int chunk)
    {
        if (!_waits.Remove(chunk, out var wait))
        {
            return;
        }

        foreach (var part in wait.Parts)
        {
            CopyOut(part, chunk);
            PartDone(part.Tracker);
        }

        foreach (var (asker, request) in wait.Peers)
        {
            if (_map.TryFind(request.Pid, request.Vaddr, out _, out int pageInChunk))
            {
                ReplyToPeer(asker, request, chunk, pageInChunk);
            }
        }
    }

    private unsafe void CopyOut(ReadPart part, int chunk)
    {
        long bytes = (long)part.Pages << PageGeometry.PageShift;
        var from = _store.At(_map[chunk].StoreOffset + ((long)part.PageInChunk << PageGeometry.PageShift));
        Buffer.MemoryCopy((void*)from, (void*)(part.Tracker.Read.Buffer + (nint)part.ReadOffset), bytes, bytes);
    }

    private void PartDone(ReadTracker tracker)
    {
        if (--tracker.Parts == 0 && _pending.Remove(tracker))
        {
            tracker.Read.Completion.TrySetResult();
        }
    }

    private void OnView(CheckpointRegistryActor.View view)
    {
        var before = _view;
        _view = view;
        var destinations = view.Destinations.Where(d => d.IsSelf || (d.Entry.Restoring && !_failedPeers.Contains(d.Node))).Select(d => d.Node).ToList();
        if (!destinations.Contains(_self))
        {
            destinations.Add(_self);
            destinations.Sort((a, b) => string.CompareOrdinal(a.ToString(), b.ToString()));
        }

        if (before is null || destinations.Count != _homes.Count || view.Sources.Count() != before.Sources.Count())
        {
            _log.Info("checkpoint '{Checkpoint}': {SourceCount} source(s), {DestinationCount} destination(s) in the cluster: {Nodes}",
                _checkpoint, view.Sources.Count(), destinations.Count, string.Join(", ", view.Nodes.Select(n => $"{n.Node} ({(n.Entry.Role == CheckpointRole.Source ? "source" : "destination")})")));
        }

        _homes = destinations;
        foreach (var peer in _peerChildren.Keys.ToList())
        {
            if (!view.Destinations.Any(d => d.Node.Equals(peer)))
            {
                GiveUpPeer(peer, "it left the cluster or became unreachable");
            }
        }

        var current = _sourcePath.Address;
        if (!view.Sources.Any(s => s.Node.Equals(current)) && OtherSource() is { } other)
        {
            SwitchSource(other, "it left the cluster or became unreachable");
        }
    }

    private ActorPath? OtherSource()
    {
        if (_view is null)
        {
            return null;
        }

        foreach (var source in _view.Sources)
        {
            if (!source.Node.Equals(_sourcePath.Address) && ActorPath.TryParse(source.Entry.PagesPath, out var path))
            {
                return path;
            }
        }

        return null;
    }

    private void SwitchSource(ActorPath to, string why)
    {
        _log.Warning("checkpoint '{Checkpoint}': source {From} lost ({Why}); switching to the source {To}, which serves the same checkpoint", _checkpoint, _sourcePath, why, to);
        _counters.SourceSwitched();
        // Its outstanding reads fail as it stops, and are asked again of the new source.
        Context.Stop(_source);
        _sourcePath = to;
        _source = NewChild(to, "source");
    }

    private void ChildFailed(object failure, string reason)
    {
        if (Sender.Equals(_source))
        {
            if (OtherSource() is { } other)
            {
                SwitchSource(other, reason);
                return;
            }

            // No other node serves the checkpoint: the source's own outcome rules apply (the supervisor stops the tree).
            Context.Parent.Tell(failure);
            return;
        }

        if (_childPeers.TryGetValue(Sender, out var peer))
        {
            GiveUpPeer(peer, reason);
        }
    }

    private void GiveUpPeer(Address peer, string reason)
    {
        if (!_failedPeers.Add(peer))
        {
            return;
        }

        _counters.PeerLost();
        _homes.Remove(peer);
        _log.Warning("checkpoint '{Checkpoint}': peer {Peer} given up ({Reason}); what it was to send is asked of the source", _checkpoint, peer, reason);
        if (_peerChildren.Remove(peer, out var child))
        {
            _childPeers.Remove(child);
            Context.Stop(child);
        }
    }

    private IActorRef PeerChild(Address peer)
    {
        if (!_peerChildren.TryGetValue(peer, out var child))
        {
            child = NewChild(PeerPagesActor.PathAt(peer), "peer");
            _peerChildren[peer] = child;
            _childPeers[child] = peer;
        }

        return child;
    }

    private IActorRef NewChild(ActorPath path, string kind) =>
        Context.ActorOf(AkkaFetchActor.Props(path, _settings, null, _statistics), $"{kind}-{++_children}");

    private void PublishHeld()
    {
        if (!_dirty)
        {
            return;
        }

        _dirty = false;
        _registry.Tell(new CheckpointRegistryActor.Register(ClusterTransport.DestinationEntry(Context.System, _checkpoint, _map, _held, _heldChunks == _map.Count, restoring: true)), Self);
    }

    private bool NoPeerNeedsUs() =>
        _view is null || _view.Destinations.All(d => d.IsSelf || !d.Entry.Restoring || _failedPeers.Contains(d.Node) || d.Entry.Complete);

    private void BeginClose()
    {
        _closeAsker = Sender;
        PublishHeld();
        double ratio = _map.TotalBytes == 0 ? 0 : (double)_counters.BytesFromSource / _map.TotalBytes;
        _log.Info("{Summary}", string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"fan-out of checkpoint '{_checkpoint}': {_counters.BytesFromSource} byte(s) from the source ({ratio:0.00} x the lazy size, {_map.TotalBytes} bytes), {_counters.BytesFromPeers} from peers, {_counters.BytesServedToPeers} served to peers; {_counters.PeersLost} peer(s) given up, {_counters.SourceSwitches} source switch(es)"));
        var linger = _cluster.PeerLinger < _settings.CloseTimeout * 2 ? _cluster.PeerLinger : _settings.CloseTimeout * 2;
        if (NoPeerNeedsUs() || linger <= TimeSpan.Zero)
        {
            EndClose(null);
            return;
        }

        _log.Info("checkpoint '{Checkpoint}': serving the peers that still restore it (at most {Seconds:0.###} s)", _checkpoint, linger.TotalSeconds);
        Timers.StartSingleTimer(LingerTimer, LingerOver.Instance, linger);
        Become(Lingering);
    }

    private void EndClose(string? why)
    {
        if (why is not null)
        {
            _log.Info("checkpoint '{Checkpoint}': done serving peers ({Why}); {Served} byte(s) served to them", _checkpoint, why, _counters.BytesServedToPeers);
        }

        Timers.CancelAll();
        _closeAsker.Tell(new RemoteFetchActor.Closed(true, null));
        Become(Ended);
    }

    private ChunkWait WaitOf(int chunk)
    {
        if (!_waits.TryGetValue(chunk, out var wait))
        {
            wait = new ChunkWait();
            _waits[chunk] = wait;
        }

        return wait;
    }

    private sealed class ReadTracker(RemoteRead read)
    {
        public RemoteRead Read { get; } = read;

        /// <summary>Parts not copied yet (plus one while the read is being cut).</summary>
        public int Parts { get; set; }
    }

    private sealed record ReadPart(ReadTracker Tracker, long ReadOffset, int PageInChunk, int Pages);

    private sealed record Attempt(long Id, Address? Peer, RemoteRead Read);

    private sealed class ChunkWait
    {
        public List<ReadPart> Parts { get; } = [];

        public List<(IActorRef Asker, PageRequest Request)> Peers { get; } = [];

        public ReadPriority Priority =>
            Parts.Exists(p => p.Tracker.Read.Priority == ReadPriority.Fault) || Peers.Exists(p => p.Request.Priority == Remoting.Wire.Priority.Fault)
                ? ReadPriority.Fault
                : ReadPriority.Background;
    }

    private sealed record AttemptDone(int Chunk, long Attempt, string? Error) : INoSerializationVerificationNeeded;

    private sealed record DirectDone(RemoteRead Read, string? Error) : INoSerializationVerificationNeeded;

    private sealed class Publish : INoSerializationVerificationNeeded
    {
        public static readonly Publish Instance = new();
    }

    private sealed class LingerOver : INoSerializationVerificationNeeded
    {
        public static readonly LingerOver Instance = new();
    }
}
