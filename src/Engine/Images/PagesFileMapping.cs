using System.IO.MemoryMappedFiles;

namespace LazyActors.Engine.Images;

/// <summary>
/// A read-only memory mapping of one raw <c>pages-&lt;id&gt;.img</c>. Nothing is read up front: the kernel pages data
/// in on access, so a large file costs address space, not managed memory.
/// </summary>
internal sealed unsafe class PagesFileMapping : IDisposable
{
    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;

    public PagesFileMapping(string path)
    {
        Path = path;
        var handle = ImageFileAccess.OpenRegular(path, out var length);
        Length = length;
        if (Length == 0)
        {
            handle.Dispose();
            return;
        }

        _file = MemoryMappedFile.CreateFromFile(handle, mapName: null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        _view = _file.CreateViewAccessor(0, Length, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + _view.PointerOffset;
    }

    public string Path { get; }

    public long Length { get; }

    /// <summary>Address of byte <paramref name="offset"/>; the caller guarantees the range is inside the file.</summary>
    public nint AddressOf(long offset) => (nint)(_base + offset);

    /// <summary>Copies <paramref name="dest"/>.Length bytes from <paramref name="offset"/>.</summary>
    public void Copy(long offset, Span<byte> dest)
    {
        if (offset < 0 || offset + dest.Length > Length)
        {
            throw new ImageFormatException(Path, $"pages file too short: {Length} bytes, read of {dest.Length} at offset {offset}");
        }

        new ReadOnlySpan<byte>(_base + offset, dest.Length).CopyTo(dest);
    }

    public void Dispose()
    {
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }

        _file?.Dispose();
    }
}
