using LazyActors.Engine.Interop;
using Microsoft.Win32.SafeHandles;

namespace LazyActors.Engine.Images;

/// <summary>
/// How every file of an image set is opened: never through a symbolic link (O_NOFOLLOW), never blocking (O_NONBLOCK,
/// so a FIFO in place of an image cannot stall us), and only when it is a regular file; metadata images are read whole
/// only up to a bound, so a crafted file cannot exhaust memory. The one link an image set may hold is
/// <see cref="Checkpoint.ParentLinkName"/>, which is resolved as a directory (see <see cref="Checkpoint"/>); the images
/// directory itself may be reached through links (the user chose it).
/// </summary>
public static class ImageFileAccess
{
    /// <summary>Largest inventory, pstree, core or mm image read (CRIU's own are kilobytes to a few megabytes).</summary>
    public const long MaxMetadataImageBytes = 64L << 20;

    /// <summary>Largest pagemap image read (about 16 million entries: a heavily fragmented terabyte of memory).</summary>
    public const long MaxPagemapImageBytes = 256L << 20;

    /// <summary>The bound for an image with per-image <paramref name="magic"/>.</summary>
    public static long MaxBytesFor(uint magic) => magic == ImageMagic.Pagemap ? MaxPagemapImageBytes : MaxMetadataImageBytes;

    /// <summary>Opens <paramref name="path"/> for reading if it is a regular file reached without a symbolic link.</summary>
    /// <param name="path">The file.</param>
    /// <param name="length">Its size in bytes.</param>
    /// <exception cref="ImageFormatException">Missing, a link, not a regular file, or it cannot be opened; the message
    /// names the file and the problem.</exception>
    public static SafeFileHandle OpenRegular(string path, out long length) =>
        TryOpenRegular(path, out length) ?? throw new ImageFormatException(path, "image file is missing");

    /// <summary>Like <see cref="OpenRegular"/>, but null when nothing exists at <paramref name="path"/>.</summary>
    /// <exception cref="ImageFormatException">It exists but is a link, not a regular file, or cannot be opened.</exception>
    public static SafeFileHandle? TryOpenRegular(string path, out long length)
    {
        ArgumentNullException.ThrowIfNull(path);
        length = 0;
        var fd = Libc.Open(path, OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC);
        if (fd < 0)
        {
            var errno = LinuxException.LastErrno();
            return errno switch
            {
                Errno.ENOENT => null,
                Errno.ELOOP => throw new ImageFormatException(path, $"is a symbolic link; image files must be regular files inside the images directory (only '{Checkpoint.ParentLinkName}' may be a link)"),
                _ => throw new ImageFormatException(path, $"cannot be opened: {new LinuxException(errno, "open").Message}"),
            };
        }

        using var probe = new SafeFdHandle(fd, ownsHandle: false);
        var status = Status(probe, path);
        if (status.Type != FileStatus.RegularFile)
        {
            _ = Libc.Close(fd);
            throw new ImageFormatException(path, $"is {status.TypeName}, not a regular file");
        }

        length = status.Length;
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Reads all of <paramref name="path"/> (a regular file) when it is at most <paramref name="maxBytes"/> long.</summary>
    /// <param name="path">The image.</param>
    /// <param name="maxBytes">The bound; a larger file is refused before anything is read.</param>
    /// <exception cref="ImageFormatException">See <see cref="OpenRegular"/>, or the file is larger than the bound.</exception>
    public static byte[] ReadAll(string path, long maxBytes) =>
        TryReadAll(path, maxBytes) ?? throw new ImageFormatException(path, "image file is missing");

    /// <summary>Like <see cref="ReadAll"/>, but null when nothing exists at <paramref name="path"/>.</summary>
    public static byte[]? TryReadAll(string path, long maxBytes)
    {
        using var handle = TryOpenRegular(path, out var length);
        if (handle is null)
        {
            return null;
        }

        if (length > maxBytes)
        {
            throw new ImageFormatException(path, $"is {length} bytes, more than the {maxBytes}-byte limit for this kind of image");
        }

        var bytes = new byte[length];
        var done = 0;
        while (done < bytes.Length)
        {
            int n;
            try
            {
                n = RandomAccess.Read(handle, bytes.AsSpan(done), done);
            }
            catch (IOException ex)
            {
                throw new ImageFormatException(path, $"cannot be read: {ex.Message}", ex);
            }

            if (n == 0)
            {
                // It shrank while we read: use what is there (the parser reports a truncated image).
                return bytes[..done];
            }

            done += n;
        }

        return bytes;
    }

    /// <summary>A sequential read stream over a regular file (see <see cref="OpenRegular"/>).</summary>
    public static FileStream OpenReadStream(string path) => new(OpenRegular(path, out _), FileAccess.Read, 1 << 16);

    /// <summary>fstat of an open descriptor, naming <paramref name="path"/> on failure.</summary>
    internal static unsafe FileStatus Status(SafeFdHandle fd, string path)
    {
        FileStatus status;
        if (Libc.Fstat(fd, &status) < 0)
        {
            throw new ImageFormatException(path, $"cannot be examined: {LinuxException.FromLast("fstat").Message}");
        }

        return status;
    }
}
