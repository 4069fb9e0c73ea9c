using Akka.Actor;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Faults;

/// <summary>The uffd hub of a restore with fault injection: every uffd it opens (restorer's and fork children's) is a
/// <see cref="FaultyUffd"/>; watching is the real hub's, on the real uffd.</summary>
public sealed class FaultyUffdHub(IUffdHub inner, FaultInjector faults) : IUffdHub, IDisposable
{
    /// <inheritdoc />
    public IUffd Open(SafeFdHandle descriptor) => new FaultyUffd(inner.Open(descriptor), faults);

    /// <inheritdoc />
    public void Watch(IUffd uffd, IActorRef owner) => inner.Watch(Unwrap(uffd), owner);

    /// <inheritdoc />
    public void Unwatch(IUffd uffd) => inner.Unwatch(Unwrap(uffd));

    /// <inheritdoc />
    public int JournalIdOf(IUffd uffd) => inner.JournalIdOf(Unwrap(uffd));

    /// <inheritdoc />
    public void Dispose() => (inner as IDisposable)?.Dispose();

    private static IUffd Unwrap(IUffd uffd) => uffd is FaultyUffd faulty ? faulty.Inner : uffd;
}
