using LazyActors.Engine.Images;

namespace LazyActors.Engine.Pages;

/// <summary>
/// <see cref="IPageSource"/> over a local <see cref="Checkpoint"/>. A read whose pages lie in PE_PRESENT entries of
/// the image set is served zero-copy (one segment per pagemap entry, pointing into the read-only mapping of
/// <c>pages-&lt;id&gt;.img</c>) and completes synchronously. Anything else (parent chain, gaps) is copied into a pooled
/// buffer on the thread pool; reads larger than a pooled buffer are split across several buffers.
/// </summary>
public sealed class LocalPageSource : IPageSource
{
    private const int PageSize = 4096;
    private const int ReleaseMappedPagesFrom = 16;
    private readonly Checkpoint _checkpoint;
    private readonly PinnedBufferPool _pool;
    private readonly bool _ownsCheckpoint;

    /// <summary>Serves pages of <paramref name="checkpoint"/>, buffering through <paramref name="pool"/>.</summary>
    public LocalPageSource(Checkpoint checkpoint, PinnedBufferPool pool, bool ownsCheckpoint = false)
    {
        _checkpoint = checkpoint;
        _pool = pool;
        _ownsCheckpoint = ownsCheckpoint;
    }

    /// <inheritdoc />
    public ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, CancellationToken cancellationToken)
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
        var release = pages >= ReleaseMappedPagesFrom ? (Action)(() => ReleaseMapped(segments)) : null;
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
        var perBuffer = _pool.BufferBytes / PageSize;
        var buffers = new List<nint>();
        var segments = new List<PageSegment>();
        try
        {
            var address = dumpAddress;
            var left = pages;
            while (left > 0)
            {
                var count = Math.Min(left, perBuffer);
                var buffer = await _pool.RentAsync(cancellationToken).ConfigureAwait(false);
                buffers.Add(buffer);
                var at = address;
                await Task.Run(() => Fill(pid, at, count, buffer), cancellationToken).ConfigureAwait(false);
                segments.Add(new PageSegment(address, count, buffer));
                address += (ulong)count * PageSize;
                left -= count;
            }

            var owned = buffers.ToArray();
            return new PageRead(segments, () =>
            {
                foreach (var b in owned)
                {
                    _pool.Return(b);
                }
            });
        }
        catch
        {
            foreach (var b in buffers)
            {
                _pool.Return(b);
            }

            throw;
        }
    }

    private unsafe void Fill(int pid, ulong address, int count, nint buffer) =>
        _checkpoint.Pages.Read(pid, address, count, new Span<byte>((void*)buffer, count * PageSize));
}
