using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using LazyActors.Engine.Remoting.Cluster.Wire;

namespace LazyActors.Engine.Remoting.Cluster;

/// <summary>
/// The checkpoint registry of a cluster node (<c>/user/checkpoint-registry</c> on every node): which node serves which
/// checkpoint (sources) and which node restores it and holds which of its chunks (destinations). Every node keeps its
/// own entries and sends them to every other member's registry (all of them when a member comes up or is reachable
/// again, the changed ones when they change); entries of a member that becomes unreachable or leaves are dropped at
/// once, so a lookup never names a node the failure detector gave up on. Local actors subscribe to one checkpoint and
/// get its <see cref="View"/> on every change.
/// </summary>
/// <remarks>
/// Our own actor rather than Akka.Cluster.Tools' pub-sub or Akka.DistributedData: the registry must answer "which nodes
/// hold chunk i of checkpoint X" and forget a node the moment it is unreachable (not after a gossip round), both packages
/// are only served here at a version that does not match Akka 1.5.74, and this way everything on the wire stays our
/// own protobuf (protos/remote/cluster.proto).
/// </remarks>
public sealed class CheckpointRegistryActor : ReceiveActor
{
    /// <summary>The actor's name under <c>/user</c>.</summary>
    public const string Name = "checkpoint-registry";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly Dictionary<(string Checkpoint, CheckpointRole Role), RegistryEntry> _own = [];
    private readonly Dictionary<Address, Dictionary<(string Checkpoint, CheckpointRole Role), RegistryEntry>> _remote = [];
    private readonly HashSet<Address> _members = [];
    private readonly Dictionary<IActorRef, string> _subscribers = [];

    /// <summary>Use <see cref="Props"/>.</summary>
    public CheckpointRegistryActor()
    {
        Receive<Register>(OnRegister);
        Receive<Withdraw>(OnWithdraw);
        Receive<Subscribe>(subscribe =>
        {
            _subscribers[Sender] = subscribe.Checkpoint;
            Context.Watch(Sender);
            Sender.Tell(ViewOf(subscribe.Checkpoint));
        });
        Receive<Find>(find => Sender.Tell(ViewOf(find.Checkpoint)));
        Receive<Terminated>(terminated => _subscribers.Remove(terminated.ActorRef));
        Receive<RegistrySync>(OnSync);
        Receive<ClusterEvent.MemberUp>(up => MemberSeen(up.Member));
        Receive<ClusterEvent.MemberWeaklyUp>(up => MemberSeen(up.Member));
        Receive<ClusterEvent.MemberJoined>(joined => MemberSeen(joined.Member));
        Receive<ClusterEvent.ReachableMember>(reachable => MemberSeen(reachable.Member));
        Receive<ClusterEvent.UnreachableMember>(unreachable => MemberGone(unreachable.Member.Address, "unreachable"));
        Receive<ClusterEvent.MemberLeft>(left => MemberGone(left.Member.Address, "leaving"));
        Receive<ClusterEvent.MemberExited>(exited => MemberGone(exited.Member.Address, "exited"));
        Receive<ClusterEvent.MemberRemoved>(removed => MemberGone(removed.Member.Address, "removed"));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
    }

    /// <summary>Props of the registry.</summary>
    public static Props Props() => Akka.Actor.Props.Create(() => new CheckpointRegistryActor());

    /// <summary>The registry of <paramref name="address"/>'s node.</summary>
    public static ActorPath PathAt(Address address) => new RootActorPath(address) / "user" / Name;

    /// <inheritdoc />
    protected override void PreStart() =>
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));

    /// <inheritdoc />
    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void OnRegister(Register register)
    {
        var entry = register.Entry.Clone();
        var key = (entry.Checkpoint, entry.Role);
        entry.Version = _own.TryGetValue(key, out var previous) ? previous.Version + 1 : 1;
        _own[key] = entry;
        if (previous is null)
        {
            _log.Info("registered as {Role} of checkpoint '{Checkpoint}' ({Path})", Describe(entry.Role), entry.Checkpoint, entry.PagesPath);
        }

        var sync = new RegistrySync { Node = _cluster.SelfAddress.ToString(), Full = false };
        sync.Entries.Add(entry);
        Broadcast(sync);
        Notify(entry.Checkpoint);
    }

    private void OnWithdraw(Withdraw withdraw)
    {
        if (_own.Remove((withdraw.Checkpoint, withdraw.Role), out var entry))
        {
            var sync = new RegistrySync { Node = _cluster.SelfAddress.ToString(), Full = false };
            sync.Withdrawn.Add(entry);
            Broadcast(sync);
            Notify(withdraw.Checkpoint);
        }
    }

    private void OnSync(RegistrySync sync)
    {
        var from = Sender.Path.Address;
        if (from.Equals(_cluster.SelfAddress) || from.Host is null)
        {
            return;
        }

        var touched = new HashSet<string>(StringComparer.Ordinal);
        if (!_remote.TryGetValue(from, out var entries))
        {
            entries = [];
            _remote[from] = entries;
        }

        if (sync.Full)
        {
            touched.UnionWith(entries.Keys.Select(k => k.Checkpoint));
            entries.Clear();
            if (_members.Add(from))
            {
                // A node we had not counted (its events may come later): it gets ours too, once.
                SendFull(from);
            }
        }

        foreach (var entry in sync.Entries)
        {
            var key = (entry.Checkpoint, entry.Role);
            if (!entries.TryGetValue(key, out var known) || known.Version < entry.Version || sync.Full)
            {
                if (known is null)
                {
                    _log.Info("node {Node} registered as {Role} of checkpoint '{Checkpoint}'", from, Describe(entry.Role), entry.Checkpoint);
                }

                entries[key] = entry;
                touched.Add(entry.Checkpoint);
            }
        }

        foreach (var gone in sync.Withdrawn)
        {
            if (entries.Remove((gone.Checkpoint, gone.Role)))
            {
                touched.Add(gone.Checkpoint);
            }
        }

        foreach (var checkpoint in touched)
        {
            Notify(checkpoint);
        }
    }

    private void MemberSeen(Member member)
    {
        if (member.Address.Equals(_cluster.SelfAddress) || member.Status is MemberStatus.Down or MemberStatus.Exiting or MemberStatus.Removed or MemberStatus.Leaving)
        {
            return;
        }

        if (_members.Add(member.Address))
        {
            SendFull(member.Address);
        }
    }

    private void MemberGone(Address address, string why)
    {
        _members.Remove(address);
        if (_remote.Remove(address, out var entries) && entries.Count > 0)
        {
            _log.Warning("node {Node} is {Why}: dropping its {Entries} registry entr(ies)", address, why, entries.Count);
            foreach (var checkpoint in entries.Keys.Select(k => k.Checkpoint).Distinct(StringComparer.Ordinal))
            {
                Notify(checkpoint);
            }
        }
    }

    private void SendFull(Address to)
    {
        var sync = new RegistrySync { Node = _cluster.SelfAddress.ToString(), Full = true };
        sync.Entries.AddRange(_own.Values);
        Context.ActorSelection(PathAt(to)).Tell(sync, Self);
    }

    private void Broadcast(RegistrySync sync)
    {
        foreach (var member in _members)
        {
            Context.ActorSelection(PathAt(member)).Tell(sync, Self);
        }
    }

    private void Notify(string checkpoint)
    {
        View? view = null;
        foreach (var (subscriber, wanted) in _subscribers)
        {
            if (wanted == checkpoint)
            {
                subscriber.Tell(view ??= ViewOf(checkpoint));
            }
        }
    }

    private View ViewOf(string checkpoint)
    {
        var nodes = new List<NodeEntry>();
        foreach (var entry in _own.Values)
        {
            if (entry.Checkpoint == checkpoint)
            {
                nodes.Add(new NodeEntry(_cluster.SelfAddress, true, entry));
            }
        }

        foreach (var (address, entries) in _remote)
        {
            foreach (var entry in entries.Values)
            {
                if (entry.Checkpoint == checkpoint)
                {
                    nodes.Add(new NodeEntry(address, false, entry));
                }
            }
        }

        nodes.Sort((a, b) => string.CompareOrdinal(a.Node.ToString(), b.Node.ToString()));
        return new View(checkpoint, nodes);
    }

    private static string Describe(CheckpointRole role) => role == CheckpointRole.Source ? "source" : "destination";

    /// <summary>Adds or replaces this node's entry (its version is set here).</summary>
    public sealed record Register(RegistryEntry Entry) : INoSerializationVerificationNeeded;

    /// <summary>Removes this node's entry.</summary>
    public sealed record Withdraw(string Checkpoint, CheckpointRole Role) : INoSerializationVerificationNeeded;

    /// <summary>The sender gets the checkpoint's <see cref="View"/> now and on every change, until it stops.</summary>
    public sealed record Subscribe(string Checkpoint) : INoSerializationVerificationNeeded;

    /// <summary>The sender gets the checkpoint's <see cref="View"/> once.</summary>
    public sealed record Find(string Checkpoint) : INoSerializationVerificationNeeded;

    /// <summary>One node's entry for a checkpoint.</summary>
    public sealed record NodeEntry(Address Node, bool IsSelf, RegistryEntry Entry);

    /// <summary>Every reachable node's entry for <paramref name="Checkpoint"/>, in address order.</summary>
    public sealed record View(string Checkpoint, IReadOnlyList<NodeEntry> Nodes) : INoSerializationVerificationNeeded
    {
        /// <summary>The sources, in address order.</summary>
        public IEnumerable<NodeEntry> Sources => Nodes.Where(n => n.Entry.Role == CheckpointRole.Source);

        /// <summary>The destinations, in address order.</summary>
        public IEnumerable<NodeEntry> Destinations => Nodes.Where(n => n.Entry.Role == CheckpointRole.Destination);
    }
}
