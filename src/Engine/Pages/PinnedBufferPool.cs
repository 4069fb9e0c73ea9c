using System.Runtime.InteropServices;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Pages;

/// <summary>
/// A bounded pool of page-aligned native buffers of one size, for page data that cannot be served zero-copy. Buffers
/// are allocated on first use and kept until the pool is disposed; <see cref="RentAsync"/> waits (asynchronously)
/// while all are rented, so memory stays bounded at <c>count × size</c>. Thread-safe.
/// </summary>
public sealed class PinnedBufferPool : ISizedBufferPool
{
    private readonly SemaphoreSlim _available;
    private readonly Stack<nint> _free = new();
    private readonly List<nint> _all = [];
    private readonly Lock _gate = new();
    private bool _disposed;

    /// <summary>Creates a pool of at most <paramref name="count"/> buffers of <paramref name="bufferBytes"/> bytes.</summary>
    public PinnedBufferPool(int bufferBytes, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferBytes, (int)PageGeometry.PageSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        BufferBytes = bufferBytes;
        Capacity = count;
        _available = new SemaphoreSlim(count, count);
    }

    /// <summary>Size of each buffer.</summary>
    public int BufferBytes { get; }

    /// <inheritdoc />
    int ISizedBufferPool.MaxBufferBytes => BufferBytes;

    /// <summary>Maximum number of buffers.</summary>
    public int Capacity { get; }

    /// <summary>Buffers allocated so far.</summary>
    public int Allocated
    {
        get
        {
            lock (_gate)
            {
                return _all.Count;
            }
        }
    }

    /// <summary>Rents a buffer, waiting while all are in use. Return it with <see cref="Return"/>.</summary>
    public async ValueTask<nint> RentAsync(CancellationToken cancellationToken)
    {
        await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            if (_disposed)
            {
                _available.Release();
                throw new ObjectDisposedException(nameof(PinnedBufferPool));
            }

            if (_free.TryPop(out var buffer))
            {
                return buffer;
            }

            buffer = Allocate(BufferBytes);
            _all.Add(buffer);
            return buffer;
        }
    }

    /// <inheritdoc />
    ValueTask<nint> ISizedBufferPool.RentAsync(int bytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, BufferBytes);
        return RentAsync(cancellationToken);
    }

    /// <inheritdoc />
    void ISizedBufferPool.Return(nint buffer, int bytes) => Return(buffer);

    /// <summary>Gives a rented buffer back.</summary>
    public void Return(nint buffer)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _free.Push(buffer);
        }

        _available.Release();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var buffer in _all)
            {
                Free(buffer);
            }

            _all.Clear();
            _free.Clear();
        }
    }

    private static unsafe nint Allocate(int bytes) => (nint)NativeMemory.AlignedAlloc((nuint)bytes, (nuint)PageGeometry.PageSize);

    private static unsafe void Free(nint buffer) => NativeMemory.AlignedFree((void*)buffer);
}
