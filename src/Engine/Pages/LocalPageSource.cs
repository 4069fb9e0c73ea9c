using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Pages;

/// <summary>
/// <see cref="IPageSource"/> over a local <see cref="Checkpoint"/>. A read whose pages lie in PE_PRESENT entries of
/// the image set is served zero-copy (one segment per pagemap entry, pointing into the read-only mapping of
/// <c>pages-&lt;id&gt;.img</c>) and completes synchronously. Anything else (parent chain, gaps) is copied into a pooled
/// buffer on the thread pool (a read larger than a pooled buffer gets its own allocation).
/// </summary>
public sealed class LocalPageSource : IPageSource
{
    private const int PageSize = (int)PageGeometry.PageSize;
    private const int ReleaseMappedPagesFrom = 16;
    private readonly Checkpoint _checkpoint;
    private readonly PinnedBufferPool _pool;
    private readonly bool _ownsCheckpoint;
    private readonly MappedPagesUse _mapped;

    /// <summary>Serves pages of <paramref name="checkpoint"/>, buffering through <paramref name="pool"/>.</summary>
    /// <param name="checkpoint">The checkpoint whose pages files are mapped.</param>
    /// <param name="pool">Buffers for reads that cannot be served from the mapping.</param>
    /// <param name="ownsCheckpoint">Whether disposing this source disposes the checkpoint.</param>
    /// <param name="mapped">How big zero-copy reads treat the mapping (default: fault in, release after).</param>
    public LocalPageSource(Checkpoint checkpoint, PinnedBufferPool pool, bool ownsCheckpoint = false, MappedPagesUse? mapped = null)
    {
        _checkpoint = checkpoint;
        _pool = pool;
        _ownsCheckpoint = ownsCheckpoint;
        _mapped = mapped ?? MappedPagesUse.Default;
    }

    /// <inheritdoc />
    public ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, ReadPriority priority, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pages, 1);
        if (TryZeroCopy(pid, dumpAddress, pages, out var read))
        {
            return ValueTask.FromResult(read);
        }

        return ReadBufferedAsync(pid, dumpAddress, pages, cancellationToken);
    }

    /// <inheritdoc />
    public bool TryReadNow(int pid, ulong dumpAddress, int pages, out PageRead read)
    {
        read = null!;
        return pages > 0 && _checkpoint.TryGetTask(pid, out _) && TryZeroCopy(pid, dumpAddress, pages, out read);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsCheckpoint)
        {
            _checkpoint.Dispose();
        }
    }

    private bool TryZeroCopy(int pid, ulong dumpAddress, int pages, out PageRead read)
    {
        read = null!;
        if (!_checkpoint.TryGetTask(pid, out var task))
        {
            throw new PageDataUnavailableException(pid, dumpAddress, _checkpoint.Directory, $"no pid {pid} in the checkpoint");
        }

        var segments = new List<PageSegment>(2);
        var address = dumpAddress;
        var left = pages;
        while (left > 0)
        {
            var index = task.FindRun(address);
            if (index < 0)
            {
                return false;
            }

            var run = task.Pagemap[index];
            var inRun = (int)Math.Min((ulong)left, (run.End - address) / PageSize);
            if (inRun <= 0 || !_checkpoint.Pages.TryGetMappedPages(pid, address, inRun, out var mapped))
            {
                return false;
            }

            segments.Add(new PageSegment(address, inRun, mapped));
            address += (ulong)inRun * PageSize;
            left -= inRun;
        }

        // Once copied, big reads give their mapped pages back (the page cache keeps them): without this every pages
        // file would end up resident in this process and count in its RSS. Small (fault) reads skip the syscall.
        var big = pages >= ReleaseMappedPagesFrom;
        if (big && _mapped.Populate)
        {
            // One system call maps every page the copy will read, instead of a fault per 16 pages inside UFFDIO_COPY.
            // Best effort: where refused (before Linux 5.14) the copy faults them in as before.
            foreach (var segment in segments)
            {
                _ = Interop.Libc.Madvise(segment.Address, (nuint)segment.Length, Interop.MadviseAdvice.MADV_POPULATE_READ);
            }
        }

        var release = big && _mapped.Release ? (Action)(() => ReleaseMapped(segments)) : null;
        read = new PageRead(segments, release) { IsZeroCopy = true };
        return true;
    }

    private static void ReleaseMapped(List<PageSegment> segments)
    {
        foreach (var segment in segments)
        {
            _ = Interop.Libc.Madvise(segment.Address, (nuint)segment.Length, Interop.MadviseAdvice.MADV_DONTNEED);
        }
    }

    private async ValueTask<PageRead> ReadBufferedAsync(int pid, ulong dumpAddress, int pages, CancellationToken cancellationToken)
    {
        // One pooled buffer per read: a read never holds a buffer while waiting for another, so reads cannot deadlock
        // on the pool. The rare read larger than a pooled buffer gets its own allocation, freed with it.
        var pooled = pages <= _pool.BufferBytes / PageSize;
        var buffer = pooled ? await _pool.RentAsync(cancellationToken).ConfigureAwait(false) : Allocate(pages);
        Action release = pooled ? () => _pool.Return(buffer) : () => Free(buffer);
        try
        {
            await Task.Run(() => Fill(pid, dumpAddress, pages, buffer), cancellationToken).ConfigureAwait(false);
            return new PageRead([new PageSegment(dumpAddress, pages, buffer)], release);
        }
        catch
        {
            release();
            throw;
        }
    }

    private static unsafe nint Allocate(int pages) => (nint)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)pages * PageSize, PageSize);

    private static unsafe void Free(nint buffer) => System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)buffer);

    private unsafe void Fill(int pid, ulong address, int count, nint buffer) =>
        _checkpoint.Pages.Read(pid, address, count, new Span<byte>((void*)buffer, count * PageSize));
}
