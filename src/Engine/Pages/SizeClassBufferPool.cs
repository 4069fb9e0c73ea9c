using System.Runtime.InteropServices;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Pages;

/// <summary>
/// Pinned, page-aligned native buffers of power-of-two sizes (one page up to a maximum) within a byte budget: a read
/// gets a buffer its own size rounded up, so many small reads can be in flight where a pool of one big size would run
/// out of buffers first. Buffers are allocated on first use and kept per size (they stay faulted in); renting waits
/// (asynchronously) while the budget is spent. Thread-safe.
/// <para>
/// With huge pages asked for, a buffer of at least <see cref="HugePageBytes"/> is its own 2 MiB-aligned anonymous
/// mapping advised MADV_HUGEPAGE: the first write into it (a socket receive) then takes one fault per 2 MiB instead of
/// one per 4 KiB page (on this machine 64 MiB of fresh 4 KiB pages cost 52–57 ms of CPU, 13.5 ms as huge pages), and the
/// copies through it need fewer TLB entries. Where transparent huge pages are off the advice is ignored and nothing
/// else changes.
/// </para>
/// </summary>
public sealed class SizeClassBufferPool : ISizedBufferPool
{
    private readonly Stack<nint>[] _free;
    private readonly List<(nint Buffer, long Bytes)> _all = [];
    private readonly Lock _gate = new();
    private readonly Queue<(long Bytes, TaskCompletionSource Ready)> _waiting = new();
    private readonly bool _hugePages;
    private long _rentedBytes;
    private long _allocatedBytes;
    private bool _disposed;

    /// <summary>A transparent huge page (x86-64): buffers this big or bigger are huge-page mappings when asked for.</summary>
    public const int HugePageBytes = 2 << 20;

    /// <summary>A pool of buffers up to <paramref name="maxBufferBytes"/>, with at most <paramref name="budgetBytes"/> rented at once.</summary>
    /// <param name="maxBufferBytes">The largest buffer.</param>
    /// <param name="budgetBytes">Bytes rented at once, at most.</param>
    /// <param name="hugePages">Buffers of at least <see cref="HugePageBytes"/> as transparent huge pages (see the class summary).</param>
    public SizeClassBufferPool(int maxBufferBytes, long budgetBytes, bool hugePages = false)
    {
        _hugePages = hugePages;
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBufferBytes, (int)PageGeometry.PageSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(budgetBytes, maxBufferBytes);
        MaxBufferBytes = (int)RoundUp(maxBufferBytes);
        BudgetBytes = budgetBytes;
        _free = new Stack<nint>[ClassOf(MaxBufferBytes) + 1];
        for (var i = 0; i < _free.Length; i++)
        {
            _free[i] = new Stack<nint>();
        }
    }

    /// <summary>The largest buffer (a power of two).</summary>
    public int MaxBufferBytes { get; }

    /// <summary>Bytes that may be rented at once.</summary>
    public long BudgetBytes { get; }

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

    /// <summary>Bytes allocated so far (rented or kept free).</summary>
    public long AllocatedBytes
    {
        get
        {
            lock (_gate)
            {
                return _allocatedBytes;
            }
        }
    }

    /// <summary>The size a buffer for <paramref name="bytes"/> has: the next power of two, at least one page.</summary>
    public static long RoundUp(long bytes) => Math.Max((long)PageGeometry.PageSize, (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)bytes));

    /// <summary>
    /// Rents a buffer of at least <paramref name="bytes"/> (at most <see cref="MaxBufferBytes"/>), waiting while the
    /// budget is spent. Give it back with <see cref="Return"/> and the same size.
    /// </summary>
    public async ValueTask<nint> RentAsync(int bytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, MaxBufferBytes);
        var size = RoundUp(bytes);
        while (true)
        {
            TaskCompletionSource ready;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_waiting.Count == 0 && _rentedBytes + size <= BudgetBytes)
                {
                    _rentedBytes += size;
                    var stack = _free[ClassOf(size)];
                    if (stack.TryPop(out var buffer))
                    {
                        return buffer;
                    }

                    buffer = _hugePages && size >= HugePageBytes ? AllocateHuge(size) : Allocate(size);
                    _all.Add((buffer, size));
                    _allocatedBytes += size;
                    return buffer;
                }

                ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiting.Enqueue((size, ready));
            }

            // Waiters are served in order; a woken waiter tries again (and goes to the back if it still does not fit).
            await ready.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Gives back a buffer rented for <paramref name="bytes"/>.</summary>
    public void Return(nint buffer, int bytes)
    {
        var size = RoundUp(bytes);
        TaskCompletionSource[] wake;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _free[ClassOf(size)].Push(buffer);
            _rentedBytes -= size;
            wake = [.. _waiting.Select(w => w.Ready)];
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
            foreach (var (buffer, bytes) in _all)
            {
                if (_hugePages && bytes >= HugePageBytes)
                {
                    _ = Libc.Munmap(buffer, (nuint)bytes);
                }
                else
                {
                    Free(buffer);
                }
            }

            _all.Clear();
            wake = [.. _waiting.Select(w => w.Ready)];
            _waiting.Clear();
        }

        foreach (var waiter in wake)
        {
            waiter.TrySetResult();
        }
    }

    private static int ClassOf(long size) => System.Numerics.BitOperations.Log2((ulong)size) - PageGeometry.PageShift;

    private static unsafe nint Allocate(long bytes) => (nint)NativeMemory.AlignedAlloc((nuint)bytes, (nuint)PageGeometry.PageSize);

    private static unsafe void Free(nint buffer) => NativeMemory.AlignedFree((void*)buffer);

    /// <summary>
    /// A mapping of <paramref name="bytes"/> (a power of two of at least 2 MiB) on a 2 MiB boundary, advised
    /// MADV_HUGEPAGE: mapped 2 MiB larger, then the unaligned head and the tail are given back.
    /// </summary>
    private static nint AllocateHuge(long bytes)
    {
        var length = (nuint)bytes + HugePageBytes;
        var raw = Libc.Mmap(0, length, ProtFlags.PROT_READ | ProtFlags.PROT_WRITE, MapFlags.MAP_PRIVATE | MapFlags.MAP_ANONYMOUS, -1, 0);
        if (raw == -1)
        {
            throw new OutOfMemoryException($"mmap of a {bytes}-byte receive buffer failed: errno {Marshal.GetLastPInvokeError()}");
        }

        var aligned = (raw + (HugePageBytes - 1)) & ~(nint)(HugePageBytes - 1);
        var head = (nuint)(aligned - raw);
        if (head > 0)
        {
            _ = Libc.Munmap(raw, head);
        }

        var tail = HugePageBytes - head;
        if (tail > 0)
        {
            _ = Libc.Munmap(aligned + (nint)bytes, tail);
        }

        // Advice only: where transparent huge pages are off (or the kernel has none free) these stay 4 KiB pages.
        _ = Libc.Madvise(aligned, (nuint)bytes, MadviseAdvice.MADV_HUGEPAGE);
        return aligned;
    }
}
