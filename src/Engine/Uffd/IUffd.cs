using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Uffd;

/// <summary>
/// The operations the daemon performs on one task's userfaultfd (it never registers or reads through this: reads are
/// the epoll reader's job). An interface so that actor specs can run against a fake without privileges.
/// </summary>
public interface IUffd : IDisposable
{
    /// <summary>The descriptor to watch, or null for a fake that is driven by hand.</summary>
    SafeFdHandle? Handle { get; }

    /// <summary>UFFDIO_COPY; never throws for kernel errors.</summary>
    UffdOpResult Copy(ulong destination, nint source, ulong length);

    /// <summary>
    /// UFFDIO_COPY of a background slice nobody waits for (an implementation may schedule it below the copies that serve
    /// faults, see <see cref="Scheduling.BackgroundPriority"/>); never throws for kernel errors.
    /// </summary>
    UffdOpResult CopyBackground(ulong destination, nint source, ulong length) => Copy(destination, source, length);

    /// <summary>
    /// UFFDIO_COPY of a background slice, which an implementation may copy on two threads at once (see
    /// <see cref="SecondCopier"/>); reports each part's result. Never throws for kernel errors.
    /// </summary>
    BulkCopyResult CopyBulk(ulong destination, nint source, ulong length) => BulkCopyResult.Whole(Copy(destination, source, length), length);

    /// <summary>UFFDIO_ZEROPAGE; never throws for kernel errors.</summary>
    UffdOpResult ZeroPage(ulong start, ulong length);

    /// <summary>UFFDIO_UNREGISTER; returns <see cref="Errno.None"/> or the errno.</summary>
    Errno Unregister(ulong start, ulong length);

    /// <summary>
    /// True when munmap, mremap and MADV_DONTNEED of the task's registered memory arrive as UNMAP/REMAP/REMOVE events
    /// (see <see cref="UffdDescriptor.ReportsMemoryChanges"/>), so that memory vanishing without one is a real loss.
    /// </summary>
    bool ReportsMemoryChanges => true;

    /// <summary>The owner has applied <paramref name="count"/> non-cooperative events it received (see
    /// <see cref="UffdEventBarrier"/>); copies refused with EAGAIN meanwhile may go on.</summary>
    void EventsHandled(int count)
    {
    }
}
