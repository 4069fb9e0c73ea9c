namespace LazyActors.Engine.Interop;

/// <summary>Linux errno values (x86_64 / asm-generic numbering).</summary>
public enum Errno
{
    /// <summary>No error.</summary>
    None = 0,
    /// <summary>Operation not permitted.</summary>
    EPERM = 1,
    /// <summary>No such file or directory.</summary>
    ENOENT = 2,
    /// <summary>No such process (for a uffd: the task's mm is gone).</summary>
    ESRCH = 3,
    /// <summary>Interrupted system call.</summary>
    EINTR = 4,
    /// <summary>Input/output error.</summary>
    EIO = 5,
    /// <summary>No such device or address.</summary>
    ENXIO = 6,
    /// <summary>Argument list too long.</summary>
    E2BIG = 7,
    /// <summary>Exec format error.</summary>
    ENOEXEC = 8,
    /// <summary>Bad file descriptor.</summary>
    EBADF = 9,
    /// <summary>No child processes.</summary>
    ECHILD = 10,
    /// <summary>Try again (for UFFDIO_COPY: a non-cooperative event is pending).</summary>
    EAGAIN = 11,
    /// <summary>Out of memory (for uffd ioctls: the range is not registered or the mm is gone).</summary>
    ENOMEM = 12,
    /// <summary>Permission denied.</summary>
    EACCES = 13,
    /// <summary>Bad address.</summary>
    EFAULT = 14,
    /// <summary>Device or resource busy.</summary>
    EBUSY = 16,
    /// <summary>File exists (for UFFDIO_COPY: the page is already present).</summary>
    EEXIST = 17,
    /// <summary>Cross-device link.</summary>
    EXDEV = 18,
    /// <summary>No such device.</summary>
    ENODEV = 19,
    /// <summary>Not a directory.</summary>
    ENOTDIR = 20,
    /// <summary>Is a directory.</summary>
    EISDIR = 21,
    /// <summary>Invalid argument.</summary>
    EINVAL = 22,
    /// <summary>Too many open files in the system.</summary>
    ENFILE = 23,
    /// <summary>Too many open files in this process.</summary>
    EMFILE = 24,
    /// <summary>Inappropriate ioctl for device.</summary>
    ENOTTY = 25,
    /// <summary>File too large.</summary>
    EFBIG = 27,
    /// <summary>No space left on device (for uffd ioctls: the task has exited).</summary>
    ENOSPC = 28,
    /// <summary>Illegal seek.</summary>
    ESPIPE = 29,
    /// <summary>Read-only file system.</summary>
    EROFS = 30,
    /// <summary>Broken pipe.</summary>
    EPIPE = 32,
    /// <summary>Result out of range.</summary>
    ERANGE = 34,
    /// <summary>File name too long.</summary>
    ENAMETOOLONG = 36,
    /// <summary>Function not implemented.</summary>
    ENOSYS = 38,
    /// <summary>Protocol error.</summary>
    EPROTO = 71,
    /// <summary>Socket operation on a non-socket.</summary>
    ENOTSOCK = 88,
    /// <summary>Message too long.</summary>
    EMSGSIZE = 90,
    /// <summary>Operation not supported.</summary>
    EOPNOTSUPP = 95,
    /// <summary>Address already in use.</summary>
    EADDRINUSE = 98,
    /// <summary>Connection reset by peer.</summary>
    ECONNRESET = 104,
    /// <summary>Transport endpoint is not connected.</summary>
    ENOTCONN = 107,
    /// <summary>Connection timed out.</summary>
    ETIMEDOUT = 110,
    /// <summary>Connection refused.</summary>
    ECONNREFUSED = 111,
}
