using Akka.Actor;
using Akka.Event;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol.Client;

namespace LazyActors.Engine.Actors.Remote;

/// <summary>
/// The parent of a <see cref="RemoteFetchActor"/> that serves several restores at once: the shared page cache's source
/// for one remote checkpoint (<see cref="Hosting.SharedRemoteSource"/>), so restores of the same checkpoint read its pages
/// over one session and each page once. The restores' supervisors subscribe; what the fetcher tells its parent (the
/// first connection failed, the source was given up) goes to every subscriber, also to those that subscribe later, and
/// each of them ends its own restore as it would with a fetcher of its own. The session is closed when the cache lets the
/// source go (<see cref="Close"/>); a source given up is dropped once no subscriber is left, so its pending reads fail
/// and the cache can forget it.
/// </summary>
public sealed class SharedFetchActor : EngineActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<IActorRef> _subscribers = [];
    private readonly Props _fetcherProps;
    private readonly RemotePageSource _source;
    private readonly TaskCompletionSource _bound;
    private IActorRef _fetcher = ActorRefs.Nobody;
    private object? _failure;
    private IActorRef? _closeRequester;

    /// <summary>Use <see cref="Props"/>.</summary>
    public SharedFetchActor(Props fetcherProps, RemotePageSource source, TaskCompletionSource bound)
    {
        _fetcherProps = fetcherProps;
        _source = source;
        _bound = bound;
        Receive<Subscribe>(_ =>
        {
            _subscribers.Add(Sender);
            Context.Watch(Sender);
            if (_failure is not null)
            {
                Sender.Tell(_failure);
            }
        });
        Receive<RemoteFetchActor.ConnectFailed>(Broadcast);
        Receive<RemoteFetchActor.SourceLost>(lost =>
        {
            Broadcast(lost);
            DropIfLostAndAlone();
        });
        Receive<Close>(_ =>
        {
            _closeRequester = Sender;
            _fetcher.Tell(RemoteFetchActor.Close.Instance);
        });
        Receive<RemoteFetchActor.Closed>(closed =>
        {
            if (!closed.Confirmed)
            {
                _log.Warning("the shared page-server session was not closed cleanly: {Error}", closed.Error);
            }

            Context.Stop(_fetcher);
        });
        Receive<Terminated>(terminated =>
        {
            if (terminated.ActorRef.Equals(_fetcher))
            {
                _closeRequester?.Tell(Done.Instance);
                Context.Stop(Self);
                return;
            }

            _subscribers.Remove(terminated.ActorRef);
            DropIfLostAndAlone();
        });
    }

    /// <summary>Props of the parent of one shared fetcher (CRIU's page-server protocol) on <paramref name="endpoint"/>;
    /// <paramref name="bound"/> completes once <paramref name="source"/> is bound to it (reads wait for that).</summary>
    public static Props Props(PageServerEndpoint endpoint, EngineSettings settings, ProbePage? probe, RemotePageSource source, RemoteStatistics statistics, TaskCompletionSource bound)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var fetcher = RemoteFetchActor.Props(endpoint, settings.Remote, probe, source, settings.EngineThreadsNice, statistics);
        return Akka.Actor.Props.Create(() => new SharedFetchActor(fetcher, source, bound)).WithDispatcher(EngineSettings.DispatcherId);
    }

    /// <summary>From a restore's supervisor (the sender): tell me what the fetcher tells its parent.</summary>
    public sealed class Subscribe : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly Subscribe Instance = new();

        private Subscribe()
        {
        }
    }

    /// <summary>From the cache's source once no restore reads it: close the session and stop; answered with
    /// <see cref="Done"/> once the fetcher stopped (its buffers may be freed then).</summary>
    public sealed class Close : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly Close Instance = new();

        private Close()
        {
        }
    }

    /// <summary>The fetcher stopped.</summary>
    public sealed class Done : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly Done Instance = new();

        private Done()
        {
        }
    }

    /// <inheritdoc />
    protected override SupervisorStrategy SupervisorStrategy() =>
        // As a restore's own fetcher: a new instance re-issues the reads in flight, at most 3 times a minute.
        new OneForOneStrategy(3, TimeSpan.FromMinutes(1), cause => cause is ActorInitializationException ? Directive.Stop : Directive.Restart);

    /// <inheritdoc />
    protected override void PreStart()
    {
        _fetcher = Context.ActorOf(_fetcherProps, "remote-fetch");
        _source.Bind(_fetcher);
        Context.Watch(_fetcher);
        _bound.TrySetResult();
    }

    /// <inheritdoc />
    protected override void PostStop() => _bound.TrySetException(new InvalidOperationException("the shared remote fetcher stopped before it was bound"));

    private void Broadcast(object failure)
    {
        _failure = failure;
        foreach (var subscriber in _subscribers)
        {
            subscriber.Tell(failure);
        }
    }

    private void DropIfLostAndAlone()
    {
        if (_failure is RemoteFetchActor.SourceLost && _subscribers.Count == 0 && _closeRequester is null)
        {
            // Its reads stay pending while restores may still stop their trees; with none left they are failed, so the
            // cache's loads end and it can let the source go.
            _log.Warning("page server given up and no restore reads it any more: stopping the shared fetcher");
            Context.Stop(_fetcher);
        }
    }
}
