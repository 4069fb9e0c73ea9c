using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Faults;

/// <summary>
/// A task's uffd whose UFFDIO_COPY answers the errno a <see cref="FaultInjector"/> chooses instead of the kernel's
/// answer. What each one leaves behind is what the kernel would: EEXIST after the first page was really copied (the
/// kernel says EEXIST only for a page that is present), the others with nothing copied. Everything else goes to the
/// real uffd unchanged.
/// </summary>
public sealed class FaultyUffd(IUffd inner, FaultInjector faults) : IUffd
{
    /// <summary>The real uffd (the hub watches it, its gate orders the copies).</summary>
    public IUffd Inner => inner;

    /// <inheritdoc />
    public SafeFdHandle? Handle => inner.Handle;

    /// <inheritdoc />
    public bool ReportsMemoryChanges => inner.ReportsMemoryChanges;

    /// <inheritdoc />
    public UffdOpResult Copy(ulong destination, nint source, ulong length)
    {
        if (!faults.Fires(FaultPoint.CopyErrno, out var rule))
        {
            return inner.Copy(destination, source, length);
        }

        var errno = FaultPlan.ErrnoOf(rule);
        if (errno == Errno.EEXIST)
        {
            var first = inner.Copy(destination, source, PageGeometry.PageSize);
            return first.IsSuccess ? new UffdOpResult(0, Errno.EEXIST) : first;
        }

        return new UffdOpResult(0, errno);
    }

    /// <inheritdoc />
    public UffdOpResult ZeroPage(ulong start, ulong length) => inner.ZeroPage(start, length);

    /// <inheritdoc />
    public Errno Unregister(ulong start, ulong length) => inner.Unregister(start, length);

    /// <inheritdoc />
    public void EventsHandled(int count) => inner.EventsHandled(count);

    /// <inheritdoc />
    public void Dispose() => inner.Dispose();

    /// <inheritdoc />
    public override string ToString() => inner.ToString() ?? nameof(FaultyUffd);
}
