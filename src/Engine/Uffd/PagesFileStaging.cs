using System.Runtime.InteropServices;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Uffd;

/// <summary>
/// <c>local-bulk-read = pread</c>: a copy whose source lies in a mapped pages file (<see cref="MappedPagesFiles"/>) is not
/// made from the mapping. The bytes are read with pread(2), piece by piece, into a buffer that belongs to the copying
/// thread (allocated and pre-faulted with MADV_POPULATE_WRITE on its first copy, reused after), and each piece goes in
/// with UFFDIO_COPY from there. With the mapping, UFFDIO_COPY faults the file's pages into the daemon inside the ioctl
/// and releasing them afterwards (MADV_DONTNEED) flushes the other CPU's TLB; on a paravirtualised guest both are dear
/// (docs/benchmarks.md, pop80, prd90). The pread runs on the copier's own thread inside its hold of the uffd's gate (no
/// hand-over), and a piece no bigger than the CPU's cache is still there when UFFDIO_COPY reads it. Copies of fewer than
/// <see cref="MinBytes"/> and sources that are no pages file (pooled buffers, remote receive buffers) are copied as
/// given. A short read or an I/O error throws <see cref="PagesFileReadException"/> naming the file: no page is ever
/// filled with anything but the file's bytes. Thread-safe.
/// </summary>
public sealed class PagesFileStaging : IDisposable
{
    /// <summary>Copies shorter than this (16 pages, where <see cref="Pages.LocalPageSource"/> starts releasing mapped
    /// pages too) stay zero-copy: a small fault's window gains nothing from a second copy.</summary>
    public const ulong MinBytes = 16 * PageGeometry.PageSize;

    /// <summary>Largest piece (and per-thread buffer).</summary>
    public const int MaxPieceBytes = 64 << 20;

    private readonly ThreadLocal<nint> _buffers = new(trackAllValues: true);
    private long _stagedBytes;
    private long _reads;
    private int _disposed;

    /// <param name="pieceBytes">Bytes per pread and UFFDIO_COPY (a multiple of the page size); also the size of each
    /// copying thread's buffer.</param>
    /// <param name="faultCopies">Also copies someone waits for (fault windows of <see cref="MinBytes"/> and more), not
    /// only background slices (<c>local-bulk-read-faults</c>).</param>
    public PagesFileStaging(int pieceBytes, bool faultCopies)
    {
        if (pieceBytes <= 0 || pieceBytes % (int)PageGeometry.PageSize != 0 || pieceBytes > MaxPieceBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(pieceBytes), pieceBytes, $"a piece is a positive multiple of {PageGeometry.PageSize} bytes up to {MaxPieceBytes}");
        }

        PieceBytes = pieceBytes;
        FaultCopies = faultCopies;
    }

    /// <summary>Bytes per pread and per UFFDIO_COPY.</summary>
    public int PieceBytes { get; }

    /// <summary>Whether fault copies are read this way too.</summary>
    public bool FaultCopies { get; }

    /// <summary>Bytes copied through a thread's buffer so far.</summary>
    public long StagedBytes => Interlocked.Read(ref _stagedBytes);

    /// <summary>Pieces read so far.</summary>
    public long Reads => Interlocked.Read(ref _reads);

    /// <summary>Copying threads that have a buffer (diagnostics and tests).</summary>
    public int Buffers => _buffers.Values.Count(b => b != 0);

    /// <summary>
    /// UFFDIO_COPY of [<paramref name="source"/>, +<paramref name="length"/>) to <paramref name="destination"/>: through
    /// this thread's buffer when the source is a mapped pages file and the copy is long enough, as given otherwise. The
    /// result is what one ioctl of the whole would report (bytes done before the first error, and that error).
    /// </summary>
    /// <exception cref="PagesFileReadException">The file could not be read (nothing of that piece was copied).</exception>
    public UffdOpResult Copy(UserFaultFd uffd, ulong destination, nint source, ulong length)
    {
        ArgumentNullException.ThrowIfNull(uffd);
        if (length < MinBytes || !MappedPagesFiles.TryFind(source, length, out var file, out var offset))
        {
            return uffd.Copy(destination, source, length);
        }

        var buffer = BufferOfThisThread();
        ulong done = 0;
        while (done < length)
        {
            var piece = (int)Math.Min((ulong)PieceBytes, length - done);
            file.ReadInto(offset + (long)done, buffer, piece);
            Interlocked.Increment(ref _reads);
            var result = uffd.Copy(destination + done, buffer, (ulong)piece);
            if (!result.IsSuccess)
            {
                Interlocked.Add(ref _stagedBytes, (long)done + Math.Max(0, result.Bytes));
                return new UffdOpResult((long)done + Math.Max(0, result.Bytes), result.Error);
            }

            done += (ulong)piece;
        }

        Interlocked.Add(ref _stagedBytes, (long)length);
        return new UffdOpResult((long)length, Errno.None);
    }

    /// <summary>Frees every thread's buffer (after the restore: no copy runs any more).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var buffer in _buffers.Values)
        {
            Free(buffer);
        }

        _buffers.Dispose();
    }

    private nint BufferOfThisThread()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var buffer = _buffers.Value;
        if (buffer == 0)
        {
            buffer = Allocate(PieceBytes);
            _buffers.Value = buffer;
        }

        return buffer;
    }

    // Written once now (one madvise; each page touched where the kernel refuses it), so no pread ever faults on it.
    private static unsafe nint Allocate(int bytes)
    {
        var buffer = (nint)NativeMemory.AlignedAlloc((nuint)bytes, (nuint)PageGeometry.PageSize);
        if (Libc.Madvise(buffer, (nuint)bytes, MadviseAdvice.MADV_POPULATE_WRITE) != 0)
        {
            for (var page = 0; page < bytes; page += (int)PageGeometry.PageSize)
            {
                ((byte*)buffer)[page] = 0;
            }
        }

        return buffer;
    }

    private static unsafe void Free(nint buffer)
    {
        if (buffer != 0)
        {
            NativeMemory.AlignedFree((void*)buffer);
        }
    }
}
