using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Restorer;

/// <summary>
/// CRIU's readiness conventions: <c>--status-fd FD</c> gets one <c>\0</c> byte and is closed; <c>-d</c> uses an
/// inherited pipe between the launching parent and the detached daemon.
/// </summary>
public static class ReadinessSignal
{
    /// <summary>Writes one zero byte to <paramref name="fd"/> and closes it.</summary>
    /// <exception cref="LinuxException">The write failed (bad descriptor, closed pipe).</exception>
    public static unsafe void WriteStatusByte(int fd)
    {
        using var handle = new SafeFdHandle(fd, ownsHandle: true);
        byte zero = 0;
        while (true)
        {
            var n = Libc.Write(handle, &zero, 1);
            if (n == 1)
            {
                return;
            }

            var errno = LinuxException.LastErrno();
            if (errno != Errno.EINTR)
            {
                throw new LinuxException(errno, $"write(status fd {fd})");
            }
        }
    }

    /// <summary>Creates a pipe whose descriptors a child process inherits: (read end, write end).</summary>
    public static unsafe (SafeFdHandle Read, int WriteFd) CreateInheritablePipe()
    {
        var fds = stackalloc int[2];
        if (Libc.Pipe2(fds, 0) < 0)
        {
            LinuxException.ThrowLast("pipe2");
        }

        return (new SafeFdHandle(fds[0], ownsHandle: true), fds[1]);
    }

    /// <summary>Closes a raw descriptor (the parent's copy of the pipe's write end).</summary>
    public static void Close(int fd) => _ = Libc.Close(fd);

    /// <summary>Waits up to <paramref name="timeout"/> for one byte on <paramref name="read"/>: the byte, or -1 on EOF/timeout.</summary>
    public static unsafe int WaitForByte(SafeFdHandle read, TimeSpan timeout)
    {
        if (!UnixSocket.WaitReadable(read, timeout))
        {
            return -1;
        }

        byte value;
        var n = Libc.Read(read, &value, 1);
        return n == 1 ? value : -1;
    }
}
