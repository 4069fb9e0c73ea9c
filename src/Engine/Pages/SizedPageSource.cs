using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Pages;

/// <summary>
/// Routes small reads (faults) and large reads (background chunks) to two sources with separate buffer pools, so that
/// background reads can never take every buffer a fault needs.
/// </summary>
public sealed class SizedPageSource : IPageSource
{
    private readonly IPageSource _small;
    private readonly IPageSource _large;
    private readonly int _smallLimitPages;

    /// <summary>Reads of at most <paramref name="smallLimitBytes"/> go to <paramref name="small"/>, others to <paramref name="large"/>.</summary>
    public SizedPageSource(IPageSource small, IPageSource large, int smallLimitBytes)
    {
        _small = small;
        _large = large;
        _smallLimitPages = smallLimitBytes / (int)PageGeometry.PageSize;
    }

    /// <inheritdoc />
    public ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, ReadPriority priority, CancellationToken cancellationToken) =>
        (pages <= _smallLimitPages ? _small : _large).ReadAsync(pid, dumpAddress, pages, priority, cancellationToken);

    /// <inheritdoc />
    public bool TryReadNow(int pid, ulong dumpAddress, int pages, out PageRead read) =>
        (pages <= _smallLimitPages ? _small : _large).TryReadNow(pid, dumpAddress, pages, out read);

    /// <inheritdoc />
    public void Dispose()
    {
        _small.Dispose();
        _large.Dispose();
    }
}
