using System.Runtime.InteropServices;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Actors.WarmUp;

/// <summary>
/// Zero-filled pages of one native buffer for a range of dump addresses, handed out through both the direct
/// (zero-copy) and the asynchronous path; freed once it and every read are disposed.
/// </summary>
internal sealed unsafe class ZeroPageSource : IPageSource
{
    private readonly ulong _baseAddress;
    private readonly int _pages;
    private readonly nint _buffer;
    private int _live = 1;

    /// <summary>Serves dump addresses [<paramref name="baseAddress"/>, + <paramref name="pages"/> pages).</summary>
    public ZeroPageSource(ulong baseAddress, int pages)
    {
        _baseAddress = baseAddress;
        _pages = pages;
        _buffer = (nint)NativeMemory.AllocZeroed((nuint)pages * (nuint)PageGeometry.PageSize);
    }

    public ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, ReadPriority priority, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Read(dumpAddress, pages));

    public bool TryReadNow(int pid, ulong dumpAddress, int pages, out PageRead read)
    {
        read = Read(dumpAddress, pages);
        return true;
    }

    public void Dispose() => Release();

    private PageRead Read(ulong dumpAddress, int count)
    {
        Interlocked.Increment(ref _live);
        var offset = (nint)Math.Min(dumpAddress - _baseAddress, (ulong)(_pages - count) * PageGeometry.PageSize);
        return new PageRead([new PageSegment(dumpAddress, count, _buffer + offset)], Release);
    }

    private void Release()
    {
        if (Interlocked.Decrement(ref _live) == 0)
        {
            NativeMemory.Free((void*)_buffer);
        }
    }
}
