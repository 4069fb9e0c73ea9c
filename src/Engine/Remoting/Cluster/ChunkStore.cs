using System.Runtime.InteropServices;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Remoting.Cluster;

/// <summary>
/// A destination's copy of the lazy pages it received (one byte range per <see cref="ChunkMap"/> chunk), so it can serve
/// them to the other destinations of the same checkpoint: the restored tasks' own memory cannot serve, they may have
/// written to it since. Page-aligned anonymous memory; pages never received are never touched, so never committed.
/// A chunk is written once (by the fetch that received it) before it is marked held, and only read after.
/// </summary>
public sealed unsafe class ChunkStore : IDisposable
{
    private void* _base;

    /// <summary>Room for <paramref name="bytes"/> bytes.</summary>
    public ChunkStore(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Bytes = bytes;
        _base = NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, (long)PageGeometry.PageSize), (nuint)PageGeometry.PageSize);
    }

    /// <summary>Its size.</summary>
    public long Bytes { get; }

    /// <summary>The address of byte <paramref name="offset"/>.</summary>
    public nint At(long offset)
    {
        ObjectDisposedException.ThrowIf(_base is null, this);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, Bytes);
        return (nint)_base + (nint)offset;
    }

    /// <summary><paramref name="length"/> bytes from <paramref name="offset"/>.</summary>
    public ReadOnlySpan<byte> Span(long offset, int length)
    {
        ObjectDisposedException.ThrowIf(_base is null, this);
        if (offset < 0 || length < 0 || offset + length > Bytes)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"{offset}+{length} is outside the store of {Bytes} bytes");
        }

        return new ReadOnlySpan<byte>((byte*)_base + offset, length);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_base is not null)
        {
            NativeMemory.AlignedFree(_base);
            _base = null;
        }
    }
}
