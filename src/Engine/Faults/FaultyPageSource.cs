using System.Globalization;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Faults;

/// <summary>
/// A page source that injects the page-source faults of a <see cref="FaultInjector"/> into the reads of the source it
/// decorates: late reads, failed reads, and reads whose data does not cover what was asked (one page short, or labelled
/// one page off). Those are what the engine can detect without knowing the bytes (address, length, coverage); data with
/// the right address and length but wrong bytes is indistinguishable from the real thing (CRIU's images carry no
/// checksum) and is not simulated. The fast path is off here, so every read goes through the page cache.
/// </summary>
public sealed class FaultyPageSource(IPageSource inner, FaultInjector faults) : IPageSource
{
    /// <inheritdoc />
    public bool IsCacheLayer => inner.IsCacheLayer;

    /// <inheritdoc />
    public async ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, ReadPriority priority, CancellationToken cancellationToken)
    {
        if (faults.Fires(FaultPoint.SourceDelay, out var delay))
        {
            await Task.Delay(int.Parse(delay.Argument!, CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);
        }

        if (faults.Fires(FaultPoint.SourceError, out _))
        {
            throw new IOException($"injected read error: pid {pid} at dump address 0x{dumpAddress:x} ({pages} pages)");
        }

        var read = await inner.ReadAsync(pid, dumpAddress, pages, priority, cancellationToken).ConfigureAwait(false);
        if (faults.Fires(FaultPoint.SourceShortRead, out _))
        {
            return Reshape(read, shift: 0, pagesLess: 1);
        }

        if (faults.Fires(FaultPoint.SourceWrongAddress, out _))
        {
            return Reshape(read, shift: PageGeometry.PageSize, pagesLess: 0);
        }

        return read;
    }

    /// <inheritdoc />
    public void Dispose() => inner.Dispose();

    /// <summary>The same bytes described wrongly: every segment moved by <paramref name="shift"/>, the last one
    /// <paramref name="pagesLess"/> pages shorter.</summary>
    private static PageRead Reshape(PageRead read, ulong shift, int pagesLess)
    {
        var segments = read.Segments.Select(s => s with { DumpAddress = s.DumpAddress + shift }).ToList();
        if (pagesLess > 0)
        {
            var last = segments[^1];
            segments[^1] = last with { Pages = Math.Max(0, last.Pages - pagesLess) };
        }

        return new PageRead(segments, read.Dispose) { IsZeroCopy = read.IsZeroCopy };
    }
}
