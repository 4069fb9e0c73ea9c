using Akka.Actor;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Actors.WarmUp;

/// <summary>A hub for the warm-up's managed path: nothing is read, the warm-up tells its tasks their events itself.</summary>
internal sealed class UnwatchedUffdHub : IUffdHub
{
    public IUffd Open(SafeFdHandle descriptor)
    {
        descriptor.Dispose();
        return new AcceptingUffd();
    }

    public void Watch(IUffd uffd, IActorRef owner)
    {
    }

    public void Unwatch(IUffd uffd)
    {
    }
}
