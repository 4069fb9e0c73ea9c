using System.Collections.Concurrent;
using Akka.Actor;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>An <see cref="IUffdHub"/> for specs: opened descriptors become <see cref="FakeUffd"/>s, owners are recorded so a
/// test can play the epoll reader (tell them <see cref="UffdActor.Events"/>).</summary>
internal sealed class FakeUffdHub : IUffdHub
{
    public ConcurrentQueue<FakeUffd> Opened { get; } = new();

    public ConcurrentDictionary<IUffd, IActorRef> Owners { get; } = new();

    public ConcurrentQueue<IUffd> Unwatched { get; } = new();

    /// <summary>Applied to every uffd this hub opens.</summary>
    public Action<FakeUffd>? Configure { get; set; }

    public IUffd Open(SafeFdHandle descriptor)
    {
        var name = $"fake-uffd(fd {descriptor.Fd})";
        descriptor.Dispose();
        var uffd = new FakeUffd(name);
        Configure?.Invoke(uffd);
        Opened.Enqueue(uffd);
        return uffd;
    }

    public void Watch(IUffd uffd, IActorRef owner) => Owners[uffd] = owner;

    public void Unwatch(IUffd uffd)
    {
        Owners.TryRemove(uffd, out _);
        Unwatched.Enqueue(uffd);
    }
}
