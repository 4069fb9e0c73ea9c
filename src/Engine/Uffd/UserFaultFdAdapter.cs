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
    /// <param name="secondCopier">The restore's helper for <see cref="CopyBulk(ulong, nint, ulong)"/> (null: never split).</param>
    /// <param name="backgroundPriority">How background slices are scheduled (see <see cref="BackgroundPriority"/>).</param>
    public UserFaultFdAdapter(SafeFdHandle handle, GatePriority gatePriority = GatePriority.Off, bool reportsMemoryChanges = true,
        SecondCopier? secondCopier = null, BackgroundPriority backgroundPriority = BackgroundPriority.Gate)
        : this(handle, gatePriority, reportsMemoryChanges, secondCopier, BackgroundPriorityPhases.Fixed(backgroundPriority))
    {
    }

    /// <summary>Takes ownership of <paramref name="handle"/>; background slices follow the restore's <paramref name="backgroundPhases"/>.</summary>
    /// <param name="handle">The uffd.</param>
    /// <param name="gatePriority">How a copier in the gate is kept from being preempted (see <see cref="GatePriority"/>).</param>
    /// <param name="reportsMemoryChanges">See <see cref="IUffd.ReportsMemoryChanges"/>.</param>
    /// <param name="secondCopier">The restore's helper for <see cref="CopyBulk(ulong, nint, ulong)"/> (null: never split).</param>
    /// <param name="backgroundPhases">How background slices are scheduled before and after the restorer has gone.</param>
    /// <param name="staging">The restore's <c>local-bulk-read = pread</c> (null: every copy straight from its source).</param>
    public UserFaultFdAdapter(SafeFdHandle handle, GatePriority gatePriority, bool reportsMemoryChanges,
        SecondCopier? secondCopier, BackgroundPriorityPhases backgroundPhases, PagesFileStaging? staging = null)
    {
        _uffd = UserFaultFd.FromHandle(handle);
        Barrier = new UffdEventBarrier(gatePriority, backgroundPhases);
        ReportsMemoryChanges = reportsMemoryChanges;
        _second = secondCopier;
        _staging = staging;
        _plainHalf = staging is null ? static (uffd, _, d, s, l) => uffd.Copy(d, s, l) : (uffd, _, d, s, l) => staging.Copy(uffd, d, s, l);
    }

    private readonly SecondCopier? _second;
    private readonly PagesFileStaging? _staging;
    // Each half of a split slice without the fault seam: the plain ioctl, or through the copying thread's buffer.
    private readonly HalfCopy _plainHalf;

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
            if (Barrier.HasUnhandledEvents)
            {
                return new UffdOpResult(0, Errno.EAGAIN);
            }

            return _staging is { FaultCopies: true } staging ? staging.Copy(_uffd, destination, source, length) : _uffd.Copy(destination, source, length);
        }
    }

    /// <inheritdoc />
    public UffdOpResult CopyBackground(ulong destination, nint source, ulong length)
    {
        using (Barrier.EnterCopy(background: true))
        {
            if (Barrier.HasUnhandledEvents)
            {
                return new UffdOpResult(0, Errno.EAGAIN);
            }

            return _staging is { } staging ? staging.Copy(_uffd, destination, source, length) : _uffd.Copy(destination, source, length);
        }
    }

    /// <inheritdoc />
    public BulkCopyResult CopyBulk(ulong destination, nint source, ulong length) => CopyBulk(destination, source, length, null);

    /// <summary>
    /// <see cref="CopyBulk(ulong, nint, ulong)"/> with each half's ioctl made by <paramref name="copyHalf"/> (the
    /// fault-injection seam, which makes the ioctl itself; null = the plain ioctl, or with <c>local-bulk-read = pread</c>
    /// through each copying thread's buffer). With a free second copier and at least
    /// <see cref="SecondCopier.MinSplitBytes"/> the slice is split at a page boundary (<see cref="SecondCopier.SplitPoint"/>): the helper copies the upper half
    /// while this thread copies the lower one, inside one hold of the gate, so no event is read, let alone applied,
    /// between them and both halves see the same memory layout (a copy already running when an event is raised finishes
    /// before it is queued; one starting after it gets EAGAIN from the kernel). The result is what one ioctl of the whole
    /// would report (<see cref="BulkCopyResult.Combined"/>) plus the upper half's own result.
    /// </summary>
    public BulkCopyResult CopyBulk(ulong destination, nint source, ulong length, HalfCopy? copyHalf)
    {
        if (_second is null || length < SecondCopier.MinSplitBytes)
        {
            return BulkCopyResult.Whole(copyHalf is null ? CopyBackground(destination, source, length) : CopyWhole(destination, source, length, copyHalf), length);
        }

        copyHalf ??= _plainHalf;
        using (Barrier.EnterCopy(background: true))
        {
            if (Barrier.HasUnhandledEvents)
            {
                return BulkCopyResult.Whole(new UffdOpResult(0, Errno.EAGAIN), length);
            }

            if (!_second.TryBegin())
            {
                return BulkCopyResult.Whole(copyHalf(_uffd, SplitHalf.First, destination, source, length), length);
            }

            Barrier.Helper = _second;
            if (_second.PieceBytes > 0)
            {
                try
                {
                    return _second.CopyFromBothEnds(_uffd, copyHalf, destination, source, length);
                }
                finally
                {
                    Barrier.Helper = null;
                }
            }

            var half = _second.SplitPoint(length);
            try
            {
                _second.Start(_uffd, copyHalf, destination + half, source + (nint)half, length - half);
                UffdOpResult first;
                try
                {
                    first = copyHalf(_uffd, SplitHalf.First, destination, source, half);
                }
                catch
                {
                    // The helper's half is done before the gate is left, whatever happened on this thread.
                    _second.Finish();
                    throw;
                }

                return new BulkCopyResult(first, half, _second.Finish());
            }
            finally
            {
                Barrier.Helper = null;
            }
        }
    }

    private UffdOpResult CopyWhole(ulong destination, nint source, ulong length, HalfCopy copy)
    {
        using (Barrier.EnterCopy(background: true))
        {
            return Barrier.HasUnhandledEvents ? new UffdOpResult(0, Errno.EAGAIN) : copy(_uffd, SplitHalf.First, destination, source, length);
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
