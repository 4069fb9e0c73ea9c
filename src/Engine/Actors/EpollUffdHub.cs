using System.Collections.Concurrent;
using Akka.Actor;
using LazyActors.Engine.CrashSafety;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Scheduling;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Actors;

/// <summary>
/// The real <see cref="IUffdHub"/>: one <see cref="EpollReader"/> thread for every uffd. Each batch of messages is
/// copied into one <see cref="UffdActor.Events"/> message for the owner, whose event count also tells the uffd's gate
/// how many events are now read but not applied; no decision is taken on the reader thread.
/// </summary>
public sealed class EpollUffdHub : IUffdHub, IDisposable
{
    private readonly EpollReader _reader;
    private readonly GatePriority _gatePriority;
    private readonly UffdScheduling _scheduling;
    private readonly CrashJournal? _journal;
    private readonly ConcurrentDictionary<IUffd, int> _journalIds = new();
    private readonly SecondCopier? _secondCopier;
    private readonly PagesFileStaging? _staging;
    private readonly BackgroundPriorityPhases _backgroundPhases;

    /// <summary>Starts the reader thread; <paramref name="onReaderFailure"/> is called if the loop itself dies. With a
    /// <paramref name="journal"/>, every FORK/REMAP/REMOVE/UNMAP event is journalled on the reader thread as it is read,
    /// before its task's actor hears of it (a FORK child's uffd first of all). With <paramref name="secondCopier"/>
    /// (owned by the hub from now on) every uffd it opens may split background slices across it. With
    /// <paramref name="staging"/> (owned by the hub too) every uffd it opens reads big copies of the pages files with
    /// pread (<c>local-bulk-read = pread</c>).</summary>
    public EpollUffdHub(Action<Exception> onReaderFailure, UffdScheduling? scheduling = null, CrashJournal? journal = null,
        SecondCopier? secondCopier = null, PagesFileStaging? staging = null)
    {
        _staging = staging;
        _gatePriority = scheduling?.GatePriority ?? GatePriority.Off;
        _scheduling = scheduling ?? UffdScheduling.Unchanged;
        _backgroundPhases = _scheduling.BackgroundPhases;
        _journal = journal;
        _secondCopier = secondCopier;
        _reader = new EpollReader(
            (token, messages) =>
            {
                var route = (Route)token;
                if (route.JournalId != 0)
                {
                    _journal?.Events(route.JournalId, messages);
                }

                var events = UffdActor.Events.Of(messages);
                route.Barrier?.EventsRead(events.NonPagefaultEvents);
                route.Owner.Tell(events);
            },
            (token, error) =>
            {
                if (token is Route route)
                {
                    route.Owner.Tell(new UffdActor.ReadFailed(error));
                }
                else
                {
                    onReaderFailure(error);
                }
            },
            scheduling: scheduling);
    }

    /// <inheritdoc />
    public IUffd Open(SafeFdHandle descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        var state = UffdDescriptor.Inspect(descriptor);
        if (state.Problem is { } problem)
        {
            descriptor.Dispose();
            throw new InvalidDataException(problem);
        }

        var uffd = new UserFaultFdAdapter(descriptor, _gatePriority, state.ReportsMemoryChanges, _secondCopier,
            _backgroundPhases, _staging);
        if (_journal is not null && _journal.TakeId(descriptor.Fd) is var id and > 0)
        {
            _journalIds[uffd] = id;
        }

        return uffd;
    }

    /// <summary>The crash journal's id of <paramref name="uffd"/>, or 0 when it is not journalled.</summary>
    public int JournalIdOf(IUffd uffd) => _journalIds.GetValueOrDefault(uffd);

    /// <inheritdoc />
    public void Watch(IUffd uffd, IActorRef owner)
    {
        var handle = uffd.Handle ?? throw new ArgumentException($"{uffd} has no descriptor to watch", nameof(uffd));
        var barrier = (uffd as UserFaultFdAdapter)?.Barrier;
        _reader.Add(handle, new Route(owner, barrier, _journalIds.GetValueOrDefault(uffd)), barrier);
    }

    /// <inheritdoc />
    public void Unwatch(IUffd uffd)
    {
        if (uffd.Handle is { } handle)
        {
            _reader.Remove(handle);
        }

        _journalIds.TryRemove(uffd, out _);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _reader.Dispose();
        _secondCopier?.Dispose();
        _staging?.Dispose();
    }

    /// <summary>Token of one watched uffd: who gets its messages, and the barrier that orders its copies.</summary>
    private sealed record Route(IActorRef Owner, UffdEventBarrier? Barrier, int JournalId)
    {
        public override string ToString() => Owner.Path.Name;
    }
}
