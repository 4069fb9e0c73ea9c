using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;

namespace LazyActors.Engine.CrashSafety;

/// <summary>
/// The daemon ⇄ guardian channel: an AF_UNIX SOCK_SEQPACKET pair, one journal record per message, at most one
/// descriptor attached (SCM_RIGHTS). A message is in the guardian's receive queue, descriptor included, as soon as
/// <c>sendmsg</c> returns, whether or not the guardian has read it yet and whatever happens to the sender afterwards:
/// that is what makes the journal write-ahead without any acknowledgement on the hot path.
/// </summary>
public static class GuardianSocket
{
    /// <summary>Largest record (a progress batch of 64 ranges, an end reason).</summary>
    public const int MaxRecord = 4096;

    /// <summary>A connected SOCK_SEQPACKET pair, both ends CLOEXEC.</summary>
    public static unsafe (SafeFdHandle First, SafeFdHandle Second) Pair()
    {
        var fds = stackalloc int[2];
        if (Libc.SocketPair(SocketConstants.AF_UNIX, SocketConstants.SOCK_SEQPACKET | SocketConstants.SOCK_CLOEXEC, 0, fds) < 0)
        {
            LinuxException.ThrowLast("socketpair(AF_UNIX, SOCK_SEQPACKET)");
        }

        return (new SafeFdHandle(fds[0], ownsHandle: true), new SafeFdHandle(fds[1], ownsHandle: true));
    }

    /// <summary>A duplicate of <paramref name="fd"/> that a started program inherits (no FD_CLOEXEC), numbered 3 or above.</summary>
    public static SafeFdHandle DuplicateInheritable(SafeFdHandle fd)
    {
        ArgumentNullException.ThrowIfNull(fd);
        var added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            var dup = Libc.Fcntl(fd.Fd, Libc.F_DUPFD, 3);
            if (dup < 0)
            {
                LinuxException.ThrowLast($"fcntl(F_DUPFD, {fd})");
            }

            return new SafeFdHandle(dup, ownsHandle: true);
        }
        finally
        {
            fd.DangerousRelease();
        }
    }

    /// <summary>Sends one record, with <paramref name="attached"/> duplicated into the receiver when not null.</summary>
    /// <exception cref="LinuxException">The peer is gone (EPIPE, ECONNRESET) or the send failed.</exception>
    public static void Send(SafeFdHandle socket, ReadOnlySpan<byte> record, SafeFdHandle? attached) =>
        UnixSocket.SendMessage(socket, record, attached, "journal record");

    /// <summary>
    /// Receives one record into <paramref name="buffer"/> (its length, 0 once the peer is gone and nothing is queued),
    /// and its descriptor, if one came with it (CLOEXEC). Waits at most <paramref name="timeout"/>; null waits forever.
    /// </summary>
    /// <exception cref="TimeoutException">Nothing arrived in time.</exception>
    /// <exception cref="InvalidDataException">A record longer than the buffer, or more than one descriptor.</exception>
    public static unsafe int Receive(SafeFdHandle socket, Span<byte> buffer, out SafeFdHandle? attached, TimeSpan? timeout)
    {
        ArgumentNullException.ThrowIfNull(socket);
        attached = null;
        if (timeout is { } t && !UnixSocket.WaitReadable(socket, t))
        {
            throw new TimeoutException($"no journal record within {t.TotalSeconds:0.#} s");
        }

        var controlSize = Cmsg.Space(sizeof(int) * 4);
        var control = stackalloc byte[controlSize];
        fixed (byte* data = buffer)
        {
            var iov = new Iovec { Base = data, Length = (nuint)buffer.Length };
            Msghdr message;
            nint n;
            while (true)
            {
                new Span<byte>(control, controlSize).Clear();
                message = new Msghdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)controlSize };
                n = Libc.RecvMsg(socket, &message, SocketConstants.MSG_CMSG_CLOEXEC);
                if (n >= 0)
                {
                    break;
                }

                var errno = LinuxException.LastErrno();
                if (errno == Errno.ECONNRESET)
                {
                    return 0;
                }

                if (errno != Errno.EINTR)
                {
                    throw new LinuxException(errno, $"recvmsg({socket}) on the guardian channel");
                }
            }

            var descriptors = 0;
            for (var header = Cmsg.FirstHeader(&message); header != null; header = Cmsg.NextHeader(&message, header))
            {
                if (header->Level != SocketConstants.SOL_SOCKET || header->Type != SocketConstants.SCM_RIGHTS)
                {
                    continue;
                }

                var count = ((int)header->Length - Cmsg.Len(0)) / sizeof(int);
                var fds = (int*)Cmsg.Data(header);
                for (var i = 0; i < count; i++)
                {
                    var handle = new SafeFdHandle(fds[i], ownsHandle: true);
                    descriptors++;
                    if (attached is null)
                    {
                        attached = handle;
                    }
                    else
                    {
                        handle.Dispose();
                    }
                }
            }

            if ((message.Flags & 0x20) != 0 || descriptors > 1) // MSG_TRUNC
            {
                attached?.Dispose();
                attached = null;
                throw new InvalidDataException($"a journal record on {socket} was truncated or carried {descriptors} descriptors");
            }

            return (int)n;
        }
    }

    /// <summary>Bytes queued for reading on a stream socket (FIONREAD).</summary>
    public static unsafe int Queued(SafeFdHandle socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        int value;
        if (Libc.IoctlInt(socket, SocketConstants.FIONREAD, &value) < 0)
        {
            LinuxException.ThrowLast($"ioctl(FIONREAD, {socket})");
        }

        return value;
    }
}
