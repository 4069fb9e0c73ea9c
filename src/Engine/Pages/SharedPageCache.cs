using System.Diagnostics.CodeAnalysis;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Pages;

/// <summary>
/// A page cache shared by every restore of one process, keyed by checkpoint identity: restores of the same checkpoint
/// (N copies of one warm service) read each page from the source once, as the first of them asks for it; the others get
/// the cached copy, or join the read in flight. Memory is bounded by <see cref="CapacityBytes"/>: when a new piece
/// does not fit, pieces nobody is copying from are evicted, first those every attached restore has read whole, then
/// those of checkpoints no restore is attached to, then the least recently used. A piece being copied from is never
/// evicted, so the cache can exceed its capacity by the reads in flight. Thread-safe.
/// </summary>
/// <remarks>
/// Each restore attaches through <see cref="Attach"/> and reads through the <see cref="IPageSource"/> it gets; disposing
/// that detaches it. It sits in front of a source whose reads cost something (a remote page server above all). Local
/// images are mapped and the kernel's page cache already shares their pages between processes and mappings, so in
/// front of them it only adds a copy: the service uses it there only when asked to.
/// </remarks>
public sealed class SharedPageCache : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, CheckpointPages> _checkpoints = new(StringComparer.Ordinal);
    private long _cachedBytes;
    private long _clock;
    private int _nextConsumer;
    private long _hitPages;
    private long _missPages;
    private long _evictedPages;
    private bool _disposed;

    /// <summary>A cache holding at most about <paramref name="capacityBytes"/> bytes of pages.</summary>
    public SharedPageCache(long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, (long)PageGeometry.PageSize);
        CapacityBytes = capacityBytes;
    }

    /// <summary>The bound on cached bytes (exceeded only by pieces being copied from).</summary>
    public long CapacityBytes { get; }

    /// <summary>Bytes of page data held now.</summary>
    public long CachedBytes => Interlocked.Read(ref _cachedBytes);

    /// <summary>Pages served from the cache (held, or joined while being read).</summary>
    public long HitPages => Interlocked.Read(ref _hitPages);

    /// <summary>Pages read from a source.</summary>
    public long MissPages => Interlocked.Read(ref _missPages);

    /// <summary>Pages evicted to stay within the capacity.</summary>
    public long EvictedPages => Interlocked.Read(ref _evictedPages);

    /// <summary>Checkpoints the cache holds pages of, or has restores attached to.</summary>
    public int Checkpoints
    {
        get
        {
            lock (_gate)
            {
                return _checkpoints.Count;
            }
        }
    }

    /// <summary>
    /// Attaches one restore of the checkpoint <paramref name="identity"/>. Misses are read from the source
    /// <paramref name="openSource"/> opens (called when the first restore of that checkpoint attaches; the cache disposes
    /// it after the last one left). Dispose the result to detach.
    /// </summary>
    public IPageSource Attach(string identity, Func<IPageSource> openSource) => Attach<IPageSource>(identity, openSource, out _);

    /// <summary>As <see cref="Attach(string, Func{IPageSource})"/>; <paramref name="source"/> is the source the misses are
    /// read from (the one <paramref name="openSource"/> opened, now or for an earlier restore), valid while attached.</summary>
    /// <exception cref="InvalidCastException">The checkpoint's source is not a <typeparamref name="TSource"/>.</exception>
    public IPageSource Attach<TSource>(string identity, Func<TSource> openSource, out TSource source)
        where TSource : IPageSource
    {
        ArgumentException.ThrowIfNullOrEmpty(identity);
        ArgumentNullException.ThrowIfNull(openSource);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_checkpoints.TryGetValue(identity, out var checkpoint))
            {
                _checkpoints[identity] = checkpoint = new CheckpointPages(identity);
            }

            checkpoint.Source ??= openSource();
            source = (TSource)checkpoint.Source;
            var consumer = ++_nextConsumer;
            checkpoint.Consumers.Add(consumer);
            return new CachedPageSource(this, checkpoint, consumer, new PageCacheCounters());
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        List<IPageSource> sources = [];
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var checkpoint in _checkpoints.Values)
            {
                foreach (var piece in checkpoint.Pieces.Values.SelectMany(p => p.Values))
                {
                    piece.Indexed = false;
                    if (piece.Pins == 0)
                    {
                        piece.Free();
                    }
                }

                if (checkpoint.Source is { } source && checkpoint.Loads == 0)
                {
                    sources.Add(source);
                    checkpoint.Source = null;
                }
            }

            _checkpoints.Clear();
        }

        sources.ForEach(s => s.Dispose());
    }

    internal async ValueTask<PageRead> ReadAsync(CheckpointPages checkpoint, int consumer, PageCacheCounters counters, int pid, ulong dumpAddress, int pages, ReadPriority priority, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pages, 1);
        var end = dumpAddress + ((ulong)pages << PageGeometry.PageShift);
        List<CachedPiece> used;
        List<CachedPiece> loads = [];
        IPageSource source;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            source = checkpoint.Source ?? throw new ObjectDisposedException(nameof(CachedPageSource), "the restore detached from the page cache");
            used = Cover(checkpoint, consumer, counters, pid, dumpAddress, end, loads);
            checkpoint.Loads += loads.Count;
        }

        foreach (var piece in loads)
        {
            _ = LoadAsync(checkpoint, source, piece, priority);
        }

        try
        {
            foreach (var piece in used)
            {
                await piece.Loaded.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            Unpin(used);
            throw;
        }

        return Lease(used, dumpAddress, end);
    }

    internal bool TryReadNow(CheckpointPages checkpoint, int consumer, PageCacheCounters counters, int pid, ulong dumpAddress, int pages, [NotNullWhen(true)] out PageRead? read)
    {
        read = null;
        if (pages < 1)
        {
            return false;
        }

        var end = dumpAddress + ((ulong)pages << PageGeometry.PageShift);
        lock (_gate)
        {
            if (_disposed || !checkpoint.Pieces.TryGetValue(pid, out var pieces))
            {
                return false;
            }

            var used = new List<CachedPiece>(2);
            var cursor = dumpAddress;
            for (var i = FirstOverlapping(pieces, dumpAddress); i < pieces.Count && cursor < end; i++)
            {
                var piece = pieces.Values[i];
                if (piece.DumpAddress > cursor || !piece.IsLoaded)
                {
                    return false;
                }

                used.Add(piece);
                cursor = piece.DumpEnd;
            }

            if (cursor < end)
            {
                return false;
            }

            foreach (var piece in used)
            {
                Touch(piece, consumer, dumpAddress, end);
            }

            Interlocked.Add(ref _hitPages, pages);
            counters.CountHits(pages);
            Metrics.EngineMeters.CacheHits.Add(pages);
            read = Lease(used, dumpAddress, end);
            return true;
        }
    }

    internal void Detach(CheckpointPages checkpoint, int consumer)
    {
        IPageSource? dispose = null;
        lock (_gate)
        {
            checkpoint.Consumers.Remove(consumer);
            if (checkpoint.Consumers.Count == 0 && checkpoint.Loads == 0)
            {
                dispose = checkpoint.Source;
                checkpoint.Source = null;
            }

            if (checkpoint.Consumers.Count == 0 && checkpoint.Pieces.Count == 0 && !_disposed)
            {
                _checkpoints.Remove(checkpoint.Identity);
            }
        }

        dispose?.Dispose();
    }

    /// <summary>The pieces covering [dumpAddress, end) of <paramref name="pid"/>, pinned; gaps become new pieces (added
    /// to <paramref name="loads"/>) that the caller reads. Under the lock.</summary>
    private List<CachedPiece> Cover(CheckpointPages checkpoint, int consumer, PageCacheCounters counters, int pid, ulong dumpAddress, ulong end, List<CachedPiece> loads)
    {
        if (!checkpoint.Pieces.TryGetValue(pid, out var pieces))
        {
            checkpoint.Pieces[pid] = pieces = [];
        }

        var used = new List<CachedPiece>(2);
        var cursor = dumpAddress;
        var index = FirstOverlapping(pieces, dumpAddress);
        while (cursor < end)
        {
            var next = index < pieces.Count ? pieces.Values[index] : null;
            if (next is not null && next.DumpAddress <= cursor)
            {
                Touch(next, consumer, dumpAddress, end);
                var hits = (long)((Math.Min(next.DumpEnd, end) - cursor) >> PageGeometry.PageShift);
                Interlocked.Add(ref _hitPages, hits);
                counters.CountHits(hits);
                Metrics.EngineMeters.CacheHits.Add(hits);
                used.Add(next);
                cursor = next.DumpEnd;
                index++;
                continue;
            }

            var gapEnd = Math.Min(end, next?.DumpAddress ?? end);
            var piece = new CachedPiece(checkpoint, pid, cursor, (int)((gapEnd - cursor) >> PageGeometry.PageShift));
            pieces.Add(piece.DumpAddress, piece);
            Touch(piece, consumer, dumpAddress, end);
            Interlocked.Add(ref _missPages, piece.Pages);
            counters.CountMisses(piece.Pages);
            Metrics.EngineMeters.CacheMisses.Add(piece.Pages);
            loads.Add(piece);
            used.Add(piece);
            cursor = gapEnd;
            index = pieces.IndexOfKey(piece.DumpAddress) + 1;
        }

        return used;
    }

    private void Touch(CachedPiece piece, int consumer, ulong from, ulong to)
    {
        piece.Pins++;
        piece.LastUse = ++_clock;
        piece.MarkRead(consumer, from, to);
    }

    /// <summary>Index of the first piece that ends after <paramref name="address"/> (binary search on the sorted keys).</summary>
    private static int FirstOverlapping(SortedList<ulong, CachedPiece> pieces, ulong address)
    {
        var keys = pieces.Keys;
        int lo = 0, hi = keys.Count - 1, found = keys.Count;
        while (lo <= hi)
        {
            var mid = (lo + hi) >> 1;
            if (pieces.Values[mid].DumpEnd > address)
            {
                found = mid;
                hi = mid - 1;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return found;
    }

    private async Task LoadAsync(CheckpointPages checkpoint, IPageSource source, CachedPiece piece, ReadPriority priority)
    {
        IPageSource? dispose = null;
        try
        {
            // No requester's token: other restores may be waiting for the same piece. The priority is the requester's
            // that found the gap (a later fault on a piece loading for the background push waits for it).
            using (var read = await source.ReadAsync(piece.Pid, piece.DumpAddress, piece.Pages, priority, CancellationToken.None).ConfigureAwait(false))
            {
                piece.Fill(read);
            }

            Metrics.EngineMeters.SourceBytes.Add(piece.Bytes);

            lock (_gate)
            {
                // Counted even if the cache was disposed meanwhile: the waiters get the data, and the last one frees it.
                _cachedBytes += piece.Bytes;
                EvictWhileOverCapacity();
            }

            piece.Loaded.SetResult();
        }
        catch (Exception ex)
        {
            lock (_gate)
            {
                Unindex(piece);
            }

            piece.Loaded.SetException(ex);
        }
        finally
        {
            lock (_gate)
            {
                checkpoint.Loads--;
                if (checkpoint.Loads == 0 && (checkpoint.Consumers.Count == 0 || _disposed))
                {
                    dispose = checkpoint.Source;
                    checkpoint.Source = null;
                }
            }

            dispose?.Dispose();
        }
    }

    private PageRead Lease(List<CachedPiece> used, ulong dumpAddress, ulong end)
    {
        var segments = new List<PageSegment>(used.Count);
        foreach (var piece in used)
        {
            var s = Math.Max(piece.DumpAddress, dumpAddress);
            var e = Math.Min(piece.DumpEnd, end);
            segments.Add(new PageSegment(s, (int)((e - s) >> PageGeometry.PageShift), piece.Memory + (nint)(s - piece.DumpAddress)));
        }

        return new PageRead(segments, () => Unpin(used));
    }

    private void Unpin(List<CachedPiece> used)
    {
        lock (_gate)
        {
            foreach (var piece in used)
            {
                piece.Pins--;
                if (piece.Pins == 0 && !piece.Indexed)
                {
                    Release(piece);
                }
            }

            EvictWhileOverCapacity();
        }
    }

    /// <summary>Evicts unpinned pieces until the cached bytes fit the capacity: those every attached restore has read
    /// whole first, then those of checkpoints without restores, then the least recently used. Under the lock.</summary>
    private void EvictWhileOverCapacity()
    {
        if (_cachedBytes <= CapacityBytes)
        {
            return;
        }

        var candidates = _checkpoints.Values
            .SelectMany(c => c.Pieces.Values.SelectMany(p => p.Values))
            .Where(p => p.Pins == 0 && p.IsLoaded)
            .OrderBy(p => p.Owner.Consumers.Count > 0 && p.ReadByAll(p.Owner.Consumers) ? 0 : p.Owner.Consumers.Count == 0 ? 1 : 2)
            .ThenBy(p => p.LastUse)
            .ToList();
        foreach (var piece in candidates)
        {
            if (_cachedBytes <= CapacityBytes)
            {
                break;
            }

            Unindex(piece);
            Interlocked.Add(ref _evictedPages, piece.Pages);
            Release(piece);
        }
    }

    private void Unindex(CachedPiece piece)
    {
        if (!piece.Indexed)
        {
            return;
        }

        piece.Indexed = false;
        var checkpoint = piece.Owner;
        if (checkpoint.Pieces.TryGetValue(piece.Pid, out var pieces))
        {
            pieces.Remove(piece.DumpAddress);
            if (pieces.Count == 0)
            {
                checkpoint.Pieces.Remove(piece.Pid);
            }
        }

        if (checkpoint.Pieces.Count == 0 && checkpoint.Consumers.Count == 0 && checkpoint.Source is null)
        {
            _checkpoints.Remove(checkpoint.Identity);
        }
    }

    private void Release(CachedPiece piece)
    {
        if (piece.IsLoaded)
        {
            _cachedBytes -= piece.Bytes;
            piece.Free();
        }
    }

    /// <summary>One restore's view of the cache.</summary>
    private sealed class CachedPageSource(SharedPageCache cache, CheckpointPages checkpoint, int consumer, PageCacheCounters counters) : IPageSource
    {
        private int _detached;

        public bool IsCacheLayer => true;

        public PageCacheCounters CacheCounters => counters;

        public ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, ReadPriority priority, CancellationToken cancellationToken) =>
            cache.ReadAsync(checkpoint, consumer, counters, pid, dumpAddress, pages, priority, cancellationToken);

        public bool TryReadNow(int pid, ulong dumpAddress, int pages, out PageRead read)
        {
            var found = cache.TryReadNow(checkpoint, consumer, counters, pid, dumpAddress, pages, out var cached);
            read = cached!;
            return found;
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _detached, 1) == 0)
            {
                cache.Detach(checkpoint, consumer);
            }
        }
    }
}
