using LazyActors.Engine.Interop;
using LazyActors.Engine.Scheduling;

namespace LazyActors.Engine.Uffd;

/// <summary>
/// <see cref="IUffd"/> over a real <see cref="UserFaultFd"/> received from the restorer or a FORK event. Copies and zero
/// pages run under the <see cref="Barrier"/>; while an event read by the epoll reader is not applied yet they are
/// refused with EAGAIN (the owner retries after handling its mailbox), as the kernel itself does until the read.
/// </summary>
public sealed class UserFaultFdAdapter : IUffd
{
    private readonly UserFaultFd _uffd;

    /// <summary>Takes ownership of <paramref name="handle"/>.</summary>
    /// <param name="handle">The uffd.</param>
    /// <param name="gatePriority">How a copier in the gate is kept from being preempted (see <see cref="GatePriority"/>).</param>
    /// <param name="reportsMemoryChanges">See <see cref="IUffd.ReportsMemoryChanges"/>.</param>
    public UserFaultFdAdapter(SafeFdHandle handle, GatePriority gatePriority = GatePriority.Off, bool reportsMemoryChanges = true)
    {
        _uffd = UserFaultFd.FromHandle(handle);
        Barrier = new UffdEventBarrier(gatePriority);
        ReportsMemoryChanges = reportsMemoryChanges;
    }

    /// <inheritdoc />
    public bool ReportsMemoryChanges { get; }

    /// <summary>Orders copies against the reading of non-cooperative events.</summary>
    public UffdEventBarrier Barrier { get; }

    /// <inheritdoc />
    public SafeFdHandle? Handle => _uffd.Handle;

    /// <inheritdoc />
    public UffdOpResult Copy(ulong destination, nint source, ulong length)
    {
        using (Barrier.EnterCopy())
        {
            return Barrier.HasUnhandledEvents ? new UffdOpResult(0, Errno.EAGAIN) : _uffd.Copy(destination, source, length);
        }
    }

    /// <inheritdoc />
    public UffdOpResult ZeroPage(ulong start, ulong length)
    {
        using (Barrier.EnterCopy())
        {
            return Barrier.HasUnhandledEvents ? new UffdOpResult(0, Errno.EAGAIN) : _uffd.ZeroPage(start, length);
        }
    }

    /// <inheritdoc />
    public void EventsHandled(int count) => Barrier.EventsHandled(count);

    /// <inheritdoc />
    public Errno Unregister(ulong start, ulong length)
    {
        try
        {
            _uffd.Unregister(start, length);
            return Errno.None;
        }
        catch (LinuxException ex)
        {
            return ex.Errno;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _uffd.Dispose();

    /// <inheritdoc />
    public override string ToString() => _uffd.ToString();
}
