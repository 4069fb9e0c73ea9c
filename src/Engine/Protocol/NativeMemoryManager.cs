using System.Buffers;

namespace LazyActors.Engine.Protocol;

/// <summary>
/// <see cref="Memory{T}"/> over native memory that is already pinned: a read-only mapping of a pages file, or a pooled
/// page-aligned buffer. Lets streams and sockets read into / write from that memory directly, without a managed copy.
/// The owner of the memory keeps it alive while the <see cref="Memory{T}"/> is in use; disposing this does nothing.
/// </summary>
public sealed unsafe class NativeMemoryManager : MemoryManager<byte>
{
    private readonly byte* _pointer;
    private readonly int _length;

    /// <summary>Wraps <paramref name="length"/> bytes at <paramref name="pointer"/>.</summary>
    public NativeMemoryManager(nint pointer, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (pointer == 0 && length != 0)
        {
            throw new ArgumentNullException(nameof(pointer));
        }

        _pointer = (byte*)pointer;
        _length = length;
    }

    /// <inheritdoc />
    public override Span<byte> GetSpan() => new(_pointer, _length);

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)elementIndex, (uint)_length, nameof(elementIndex));
        return new MemoryHandle(_pointer + elementIndex);
    }

    /// <inheritdoc />
    public override void Unpin()
    {
        // The memory is pinned by whoever owns it.
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        // Nothing owned.
    }
}
