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
    public UffdOpResult Copy(ulong destination, nint source, ulong length) =>
        faults.Fires(FaultPoint.CopyErrno, out var rule) ? Inject(rule, inner.Copy, destination, source) : inner.Copy(destination, source, length);

    /// <summary>An unsplit background slice: <c>uffd.copy</c> applies to it as to <see cref="Copy"/>.</summary>
    public UffdOpResult CopyBackground(ulong destination, nint source, ulong length) =>
        faults.Fires(FaultPoint.CopyErrno, out var rule) ? Inject(rule, inner.CopyBackground, destination, source) : inner.CopyBackground(destination, source, length);

    /// <summary>
    /// A background slice: <c>uffd.copy</c> applies to it whole, as to <see cref="Copy"/>; a slice the real uffd splits
    /// for its second copier also meets <c>uffd.half1</c>, <c>uffd.half2</c> and <c>uffd.half2-delay</c> in each half.
    /// </summary>
    public BulkCopyResult CopyBulk(ulong destination, nint source, ulong length)
    {
        if (faults.Fires(FaultPoint.CopyErrno, out var rule))
        {
            return BulkCopyResult.Whole(Inject(rule, inner.CopyBackground, destination, source), length);
        }

        return inner is UserFaultFdAdapter adapter
            ? adapter.CopyBulk(destination, source, length, CopyHalf)
            : inner.CopyBulk(destination, source, length);
    }

    private UffdOpResult CopyHalf(UserFaultFd uffd, SplitHalf half, ulong destination, nint source, ulong length)
    {
        if (half == SplitHalf.Second && faults.Fires(FaultPoint.SecondHalfDelay, out var delay))
        {
            Thread.Sleep(int.Parse(delay.Argument!, System.Globalization.CultureInfo.InvariantCulture));
        }

        var point = half == SplitHalf.First ? FaultPoint.FirstHalfErrno : FaultPoint.SecondHalfErrno;
        return faults.Fires(point, out var rule)
            ? Inject(rule, (d, s, l) => uffd.Copy(d, s, l), destination, source)
            : uffd.Copy(destination, source, length);
    }

    // What the kernel would leave behind: EEXIST after really copying the first page (the kernel says EEXIST only for a
    // page that is present), the others with nothing copied.
    private static UffdOpResult Inject(FaultRule rule, Func<ulong, nint, ulong, UffdOpResult> copy, ulong destination, nint source)
    {
        var errno = FaultPlan.ErrnoOf(rule);
        if (errno == Errno.EEXIST)
        {
            var first = copy(destination, source, PageGeometry.PageSize);
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
