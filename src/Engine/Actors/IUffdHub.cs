using Akka.Actor;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Opens userfaultfds received from the restorer or from FORK events and routes their messages to the owning
/// UffdActor (as <see cref="UffdActor.Events"/>). The real hub is one epoll reader thread for all uffds; specs use a
/// fake. Thread-safe.
/// </summary>
public interface IUffdHub
{
    /// <summary>Wraps a received descriptor (ownership moves to the result).</summary>
    /// <exception cref="InvalidDataException">The descriptor cannot serve a task (not a userfaultfd, or one never given
    /// UFFDIO_API); it is closed and the message says why.</exception>
    IUffd Open(SafeFdHandle descriptor);

    /// <summary>Starts delivering the messages of <paramref name="uffd"/> to <paramref name="owner"/>.</summary>
    void Watch(IUffd uffd, IActorRef owner);

    /// <summary>Stops delivering; safe to call twice.</summary>
    void Unwatch(IUffd uffd);

    /// <summary>The crash-journal id of a uffd this hub opened (its progress is journalled under it); 0 when it is not
    /// journalled.</summary>
    int JournalIdOf(IUffd uffd) => 0;
}
