using Akka.Actor;
using Akka.Event;
using LazyActors.Engine.Remoting.Wire;

namespace LazyActors.Engine.Remoting.Cluster;

/// <summary>
/// A destination's address for its peers (<c>/user/peer-pages</c>, registered in the checkpoint registry from the
/// daemon's start): page requests of other destinations go to the restore's <c>ClusterFetchActor</c> once it attached
/// (when the restorer connected), and wait here until then, so a peer never meets a destination it cannot ask yet;
/// once that restore is over they are refused at once.
/// </summary>
public sealed class PeerPagesActor : ReceiveActor
{
    /// <summary>The actor's name under <c>/user</c>.</summary>
    public const string Name = "peer-pages";

    /// <summary>Requests kept before a fetcher attached, at most.</summary>
    private const int MaxWaiting = 65536;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<(PageRequest Request, IActorRef Asker)> _waiting = [];
    private IActorRef _fetcher = ActorRefs.Nobody;
    private bool _ended;

    /// <summary>Use <see cref="Props"/>.</summary>
    public PeerPagesActor()
    {
        Receive<Attach>(attach =>
        {
            _fetcher = attach.Fetcher;
            Context.Watch(_fetcher);
            foreach (var (request, asker) in _waiting)
            {
                _fetcher.Tell(request, asker);
            }

            _waiting.Clear();
        });
        Receive<Terminated>(terminated =>
        {
            if (terminated.ActorRef.Equals(_fetcher))
            {
                _fetcher = ActorRefs.Nobody;
                _ended = true;
            }
        });
        Receive<PageRequest>(request =>
        {
            if (!_fetcher.IsNobody())
            {
                _fetcher.Forward(request);
            }
            else if (_ended)
            {
                // Refused at once, so the asker turns to the source now instead of after its give-up time.
                Sender.Tell(new PageError { Id = request.Id, Pid = request.Pid, Vaddr = request.Vaddr, Reason = "this destination's restore is over" });
            }
            else if (_waiting.Count < MaxWaiting)
            {
                _waiting.Add((request, Sender));
            }
            else
            {
                _log.Warning("{Peer}: {Count} page requests wait for this destination's restore to begin; refusing more", Sender.Path.Address, _waiting.Count);
                Sender.Tell(new PageError { Id = request.Id, Pid = request.Pid, Vaddr = request.Vaddr, Reason = "this destination's restore has not begun" });
            }
        });
    }

    /// <summary>Props of the actor.</summary>
    public static Props Props() => Akka.Actor.Props.Create(() => new PeerPagesActor());

    /// <summary>The peer pages actor of <paramref name="address"/>'s node.</summary>
    public static ActorPath PathAt(Address address) => new RootActorPath(address) / "user" / Name;

    /// <summary>From the restore's fetcher: peers' requests go to it from now on.</summary>
    public sealed record Attach(IActorRef Fetcher) : INoSerializationVerificationNeeded;
}
