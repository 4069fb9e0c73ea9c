using System.Runtime.InteropServices;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Pages;

/// <summary>
/// Receive buffers of power-of-two sizes (one page up to <see cref="MaxBufferBytes"/>) carved out of one mapping of
/// <see cref="ArenaBytes"/> by a buddy allocator, the mapping's pages written once up front
/// (<see cref="PopulateAsync"/>, MADV_POPULATE_WRITE): no buffer a reply is received into ever takes a first-touch fault
/// on the hot path, and memory is the arena and nothing more whatever mix of sizes the reads ask (a pool that keeps
/// buffers per size allocates — and faults in — fresh ones for each size it has not seen yet, up to its budget per size).
/// Renting waits (asynchronously, in order) while no free block is big enough. Thread-safe.
/// <para>
/// With huge pages asked for the arena is 2 MiB-aligned and advised MADV_HUGEPAGE, so populating it takes one fault per
/// 2 MiB and the copies through it fewer TLB entries (ignored where transparent huge pages are off).
/// </para>
/// </summary>
public sealed class ArenaBufferPool : ISizedBufferPool
{
    private const int PageShift = PageGeometry.PageShift;

    private readonly nint _base;
    private readonly nuint _mappedBytes;
    private readonly nint _mapping;

    // Free blocks per class (class c = PageSize << c bytes), as page offsets into the arena; lowest first, so reuse
    // stays in the memory touched most recently and buddies merge back.
    private readonly SortedSet<int>[] _free;
    private readonly Lock _gate = new();
    private readonly Queue<TaskCompletionSource> _waiting = new();
    private long _rentedBytes;
    private bool _disposed;

    /// <summary>An arena of at least <paramref name="arenaBytes"/> (a multiple of the largest buffer) with buffers up to
    /// <paramref name="maxBufferBytes"/>.</summary>
    /// <param name="maxBufferBytes">The largest buffer (rounded up to a power of two).</param>
    /// <param name="arenaBytes">Bytes of buffers in all (rounded up to a multiple of the largest buffer).</param>
    /// <param name="hugePages">2 MiB-aligned and advised MADV_HUGEPAGE.</param>
    public ArenaBufferPool(int maxBufferBytes, long arenaBytes, bool hugePages)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBufferBytes, (int)PageGeometry.PageSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(arenaBytes, maxBufferBytes);
        MaxBufferBytes = (int)SizeClassBufferPool.RoundUp(maxBufferBytes);
        ArenaBytes = (arenaBytes + MaxBufferBytes - 1) / MaxBufferBytes * MaxBufferBytes;
        _free = new SortedSet<int>[ClassOf(MaxBufferBytes) + 1];
        for (var i = 0; i < _free.Length; i++)
        {
            _free[i] = [];
        }

        long align = hugePages ? SizeClassBufferPool.HugePageBytes : (long)PageGeometry.PageSize;
        _mappedBytes = (nuint)(ArenaBytes + align);
        _mapping = Libc.Mmap(0, _mappedBytes, ProtFlags.PROT_READ | ProtFlags.PROT_WRITE, MapFlags.MAP_PRIVATE | MapFlags.MAP_ANONYMOUS, -1, 0);
        if (_mapping == Libc.MapFailed)
        {
            throw new OutOfMemoryException($"mmap of a {ArenaBytes}-byte receive arena failed: errno {Marshal.GetLastPInvokeError()}");
        }

        _base = (_mapping + (nint)(align - 1)) & ~(nint)(align - 1);
        if (hugePages)
        {
            // Advice only: where transparent huge pages are off these stay 4 KiB pages.
            _ = Libc.Madvise(_base, (nuint)ArenaBytes, MadviseAdvice.MADV_HUGEPAGE);
        }

        var top = ClassOf(MaxBufferBytes);
        for (long offset = 0; offset < ArenaBytes; offset += MaxBufferBytes)
        {
            _free[top].Add((int)(offset >> PageShift));
        }
    }

    /// <summary>The largest buffer (a power of two).</summary>
    public int MaxBufferBytes { get; }

    /// <summary>Bytes of the arena (a multiple of <see cref="MaxBufferBytes"/>).</summary>
    public long ArenaBytes { get; }

    /// <summary>Bytes rented now (sizes rounded up).</summary>
    public long RentedBytes
    {
        get
        {
            lock (_gate)
            {
                return _rentedBytes;
            }
        }
    }

    /// <summary>
    /// Writes every page of the arena once (MADV_POPULATE_WRITE, Linux 5.14+), so later receives find them present:
    /// call it while nothing waits for the daemon (before the restorer connects). Rents may go on meanwhile (a page not
    /// populated yet faults as it would have). Returns false where the kernel refused (the pages then fault on first
    /// use, as without the arena).
    /// </summary>
    public bool Populate()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
        }

        // Populated in slices with the gate free, so Dispose waits at most one slice (it unmaps under the gate).
        const long Slice = SizeClassBufferPool.HugePageBytes;
        for (long offset = 0; offset < ArenaBytes; offset += Slice)
        {
            lock (_gate)
            {
                if (_disposed)
                {
                    return false;
                }

                if (Libc.Madvise(_base + (nint)offset, (nuint)Math.Min(Slice, ArenaBytes - offset), MadviseAdvice.MADV_POPULATE_WRITE) != 0)
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary><see cref="Populate"/> on a thread-pool thread.</summary>
    public Task<bool> PopulateAsync() => Task.Run(Populate);

    /// <inheritdoc />
    public async ValueTask<nint> RentAsync(int bytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, MaxBufferBytes);
        var size = SizeClassBufferPool.RoundUp(bytes);
        var wanted = ClassOf(size);
        while (true)
        {
            TaskCompletionSource ready;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_waiting.Count == 0 && TryTake(wanted, out var offset))
                {
                    _rentedBytes += size;
                    return _base + (nint)((long)offset << PageShift);
                }

                ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiting.Enqueue(ready);
            }

            // Waiters are woken together on a return and try again in the order they run.
            await ready.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public void Return(nint buffer, int bytes)
    {
        var size = SizeClassBufferPool.RoundUp(bytes);
        var offset = (long)(buffer - _base);
        if (offset < 0 || offset + size > ArenaBytes || (offset & (size - 1)) != 0)
        {
            throw new ArgumentException($"0x{buffer:x} ({bytes} bytes) is not a block of this arena", nameof(buffer));
        }

        TaskCompletionSource[] wake;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            var page = (int)(offset >> PageShift);
            var cls = ClassOf(size);
            var top = _free.Length - 1;
            while (cls < top && _free[cls].Remove(page ^ (1 << cls)))
            {
                // Its buddy is free too: merge them into the block of the next class.
                page &= ~(1 << cls);
                cls++;
            }

            _free[cls].Add(page);
            _rentedBytes -= size;
            wake = [.. _waiting];
            _waiting.Clear();
        }

        foreach (var waiter in wake)
        {
            waiter.TrySetResult();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        TaskCompletionSource[] wake;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _ = Libc.Munmap(_mapping, _mappedBytes);
            wake = [.. _waiting];
            _waiting.Clear();
        }

        foreach (var waiter in wake)
        {
            waiter.TrySetResult();
        }
    }

    private static int ClassOf(long size) => System.Numerics.BitOperations.Log2((ulong)size) - PageShift;

    /// <summary>The lowest free block of class <paramref name="wanted"/>, splitting the smallest bigger one if none.</summary>
    private bool TryTake(int wanted, out int offset)
    {
        var cls = wanted;
        while (cls < _free.Length && _free[cls].Count == 0)
        {
            cls++;
        }

        if (cls == _free.Length)
        {
            offset = 0;
            return false;
        }

        offset = _free[cls].Min;
        _ = _free[cls].Remove(offset);
        while (cls > wanted)
        {
            // Split: keep the lower half, the upper half is free at the class below.
            cls--;
            _ = _free[cls].Add(offset + (1 << cls));
        }

        return true;
    }
}
