using System.IO.MemoryMappedFiles;
using LazyActors.Engine.Interop;
using Microsoft.Win32.SafeHandles;

namespace LazyActors.Engine.Images;

/// <summary>
/// A read-only memory mapping of one raw <c>pages-&lt;id&gt;.img</c>. Nothing is read up front: the kernel pages data
/// in on access, so a large file costs address space, not managed memory. The file stays open for
/// <see cref="ReadInto"/> (pread), and the mapping is listed in <see cref="MappedPagesFiles"/> while it exists.
/// </summary>
internal sealed unsafe class PagesFileMapping : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;

    public PagesFileMapping(string path)
    {
        Path = path;
        _handle = ImageFileAccess.OpenRegular(path, out var length);
        Length = length;
        if (Length == 0)
        {
            return;
        }

        _file = MemoryMappedFile.CreateFromFile(_handle, mapName: null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        _view = _file.CreateViewAccessor(0, Length, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + _view.PointerOffset;
        MappedPagesFiles.Add(this);
    }

    public string Path { get; }

    public long Length { get; }

    /// <summary>Address of byte <paramref name="offset"/>; the caller guarantees the range is inside the file.</summary>
    public nint AddressOf(long offset) => (nint)(_base + offset);

    /// <summary>The file offset of <paramref name="address"/> when [address, +length) lies inside this mapping.</summary>
    public bool TryOffsetOf(nint address, ulong length, out long offset)
    {
        offset = (byte*)address - _base;
        return _base != null && offset >= 0 && offset < Length && length <= (ulong)(Length - offset);
    }

    /// <summary>Copies <paramref name="dest"/>.Length bytes from <paramref name="offset"/>.</summary>
    public void Copy(long offset, Span<byte> dest)
    {
        if (offset < 0 || offset + dest.Length > Length)
        {
            throw new ImageFormatException(Path, $"pages file too short: {Length} bytes, read of {dest.Length} at offset {offset}");
        }

        new ReadOnlySpan<byte>(_base + offset, dest.Length).CopyTo(dest);
    }

    /// <summary>
    /// Reads exactly <paramref name="count"/> bytes at <paramref name="offset"/> into <paramref name="buffer"/> with
    /// pread(2), from the page cache like the mapping but without mapping anything into this process.
    /// </summary>
    /// <exception cref="PagesFileReadException">An I/O error, or the file ends before the last byte (it was cut since it
    /// was opened: the mapping would raise SIGBUS there). Nothing is ever filled with zeros.</exception>
    public void ReadInto(long offset, nint buffer, int count)
    {
        var done = 0;
        while (done < count)
        {
            var read = Libc.PRead(_handle, (byte*)buffer + done, (nuint)(count - done), offset + done);
            if (read > 0)
            {
                done += (int)read;
                continue;
            }

            if (read == 0)
            {
                throw new PagesFileReadException(Path, offset, count, $"the file ends at byte {offset + done} (it was {Length} bytes when opened)");
            }

            var errno = LinuxException.LastErrno();
            if (errno != Errno.EINTR)
            {
                throw new PagesFileReadException(Path, offset, count, new LinuxException(errno, "pread").Message);
            }
        }
    }

    public void Dispose()
    {
        if (_view is not null)
        {
            MappedPagesFiles.Remove(this);
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }

        _file?.Dispose();
        _handle.Dispose();
    }
}
