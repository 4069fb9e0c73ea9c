using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Restorer;

/// <summary>
/// Blocking AF_UNIX SOCK_STREAM helpers for the lazy-pages handshake: listen/accept/connect, exact-length send and
/// receive, and passing one descriptor with SCM_RIGHTS the way CRIU's send_fd/recv_fd do. Every wait has a timeout.
/// </summary>
public static class UnixSocket
{
    /// <summary>Mode 0600: read and write for the owner only (connecting needs write permission on the file).</summary>
    public const uint OwnerOnly = 0x180;

    /// <summary>The path each listener of <see cref="Listen"/> is reachable at (for messages).</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<SafeFdHandle, string> ListenedPaths = new();

    /// <summary>
    /// Creates a listening socket at <paramref name="path"/> (relative paths resolve against the working directory) with
    /// file mode <paramref name="mode"/> whatever the umask (default 0600: only the owner, and root, may connect). A stale
    /// socket file is replaced; a socket someone still listens on is not taken over. The file appears only once the
    /// socket listens (it is bound under a temporary name beside it and renamed), so whoever sees it can connect.
    /// </summary>
    /// <exception cref="IOException">Another process listens on <paramref name="path"/> (the message says so).</exception>
    /// <exception cref="LinuxException">The socket cannot be created (path, permissions).</exception>
    public static unsafe SafeFdHandle Listen(string path, int backlog = LazyPagesHandshake.Backlog, uint mode = OwnerOnly)
    {
        _ = SockaddrUn.Create(path, out _); // the path fits sun_path, or a clear error before anything is touched
        if (IsListenedOn(path))
        {
            throw new IOException($"{path}: another process is listening on this socket (a connect succeeded); stop it first, or use another work directory");
        }

        // Bound under a temporary name and renamed once listening: a connect between bind and listen would be refused
        // (ECONNREFUSED) by a socket file that exists, and a busy machine can hold a thread there for milliseconds.
        var staging = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", $".la-{Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)}.sock");
        var stagingAddress = SockaddrUn.Create(staging, out var stagingLength);
        if (Libc.Unlink(staging) < 0 && LinuxException.LastErrno() != Errno.ENOENT)
        {
            LinuxException.ThrowLast($"unlink({staging})");
        }

        var socket = NewSocket();
        var bound = false;
        try
        {
            // bind creates the file with the socket inode's mode less the umask: narrowing the inode first means the
            // file is never more open than mode, even for an instant; chmod then restores bits a strict umask removed.
            if (Libc.Fchmod(socket, mode) < 0)
            {
                LinuxException.ThrowLast($"fchmod(socket for {path}, 0{Convert.ToString(mode, 8)})");
            }

            if (Libc.Bind(socket, &stagingAddress, stagingLength) < 0)
            {
                LinuxException.ThrowLast($"bind({staging})");
            }

            bound = true;
            if (Libc.Chmod(staging, mode) < 0)
            {
                LinuxException.ThrowLast($"chmod({staging}, 0{Convert.ToString(mode, 8)})");
            }

            if (Libc.Listen(socket, backlog) < 0)
            {
                LinuxException.ThrowLast($"listen({path})");
            }

            // Replaces a stale socket file atomically (one a live daemon listens on was refused above).
            if (Libc.Rename(staging, path) < 0)
            {
                LinuxException.ThrowLast($"rename({staging}, {path})");
            }

            ListenedPaths.AddOrUpdate(socket, path);
            return socket;
        }
        catch
        {
            if (bound)
            {
                _ = Libc.Unlink(staging);
            }

            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// True when a process listens on the socket file at <paramref name="path"/>: a connect succeeds (and is closed at
    /// once, without a byte: a lazy-pages daemon of ours lets such a peer go and keeps waiting for its restorer). False
    /// for no file, a stale socket (ECONNREFUSED) or another kind of file.
    /// </summary>
    public static unsafe bool IsListenedOn(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        FileStatus status;
        if (Libc.Lstat(path, &status) < 0 || status.Type != FileStatus.Socket)
        {
            return false;
        }

        var address = SockaddrUn.Create(path, out var length);
        using var socket = NewSocket();
        return Libc.Connect(socket, &address, length) == 0;
    }

    /// <summary>
    /// Whether data is waiting on <paramref name="socket"/> (true) or the peer closed without sending any (false),
    /// looked at without consuming anything; the caller knows it is readable.
    /// </summary>
    public static unsafe bool HasData(SafeFdHandle socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        byte probe;
        while (true)
        {
            var n = Libc.Recv(socket, &probe, 1, SocketConstants.MSG_PEEK | SocketConstants.MSG_DONTWAIT);
            if (n >= 0)
            {
                return n > 0;
            }

            var errno = LinuxException.LastErrno();
            if (errno == Errno.EINTR)
            {
                continue;
            }

            if (errno == Errno.EAGAIN)
            {
                return true;
            }

            if (errno == Errno.ECONNRESET)
            {
                return false;
            }

            throw new LinuxException(errno, $"recv({socket}, MSG_PEEK)");
        }
    }

    /// <summary>Accepts one connection, waiting at most <paramref name="timeout"/>.</summary>
    /// <exception cref="TimeoutException">Nobody connected in time; the message names the socket path.</exception>
    public static unsafe SafeFdHandle Accept(SafeFdHandle listener, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(listener);
        if (!WaitReadable(listener, timeout))
        {
            throw new TimeoutException(
                $"No connection on UNIX socket '{LocalPath(listener)}' within {timeout.TotalSeconds:0.###} s.");
        }

        while (true)
        {
            var fd = Libc.Accept4(listener, null, null, SocketConstants.SOCK_CLOEXEC);
            if (fd >= 0)
            {
                return new SafeFdHandle(fd, ownsHandle: true);
            }

            if (LinuxException.LastErrno() != Errno.EINTR)
            {
                LinuxException.ThrowLast($"accept4({LocalPath(listener)})");
            }
        }
    }

    /// <summary>
    /// The credentials of the process that connected <paramref name="socket"/> (SO_PEERCRED, taken at connect time); its
    /// pid is as seen from this process's pid namespace, 0 when the peer is not visible there.
    /// </summary>
    /// <exception cref="LinuxException">getsockopt failed (not a connected UNIX socket).</exception>
    public static unsafe Ucred PeerCredentials(SafeFdHandle socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Ucred credentials = default;
        var length = (uint)Ucred.Size;
        if (Libc.GetSockOpt(socket, SocketConstants.SOL_SOCKET, SocketConstants.SO_PEERCRED, &credentials, &length) < 0)
        {
            LinuxException.ThrowLast("getsockopt(SO_PEERCRED)");
        }

        return credentials;
    }

    /// <summary>Connects to the listening socket at <paramref name="path"/>.</summary>
    public static unsafe SafeFdHandle Connect(string path)
    {
        var address = SockaddrUn.Create(path, out var length);
        var socket = NewSocket();
        try
        {
            if (Libc.Connect(socket, &address, length) < 0)
            {
                LinuxException.ThrowLast($"connect({path})");
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A connected AF_UNIX stream pair (both CLOEXEC).</summary>
    public static unsafe SafeFdHandle[] SocketPair()
    {
        var fds = stackalloc int[2];
        if (Libc.SocketPair(SocketConstants.AF_UNIX, SocketConstants.SOCK_STREAM | SocketConstants.SOCK_CLOEXEC, 0, fds) < 0)
        {
            LinuxException.ThrowLast("socketpair(AF_UNIX, SOCK_STREAM)");
        }

        return [new SafeFdHandle(fds[0], ownsHandle: true), new SafeFdHandle(fds[1], ownsHandle: true)];
    }

    /// <summary>Sends all of <paramref name="data"/>, looping on short writes (MSG_NOSIGNAL: no SIGPIPE).</summary>
    public static unsafe void SendExactly(SafeFdHandle socket, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(socket);
        fixed (byte* start = data)
        {
            var sent = 0;
            while (sent < data.Length)
            {
                var n = Libc.Send(socket, start + sent, (nuint)(data.Length - sent), SocketConstants.MSG_NOSIGNAL);
                if (n < 0)
                {
                    if (LinuxException.LastErrno() == Errno.EINTR)
                    {
                        continue;
                    }

                    LinuxException.ThrowLast($"send({socket}, {sent}/{data.Length} bytes sent)");
                }

                sent += (int)n;
            }
        }
    }

    /// <summary>Fills <paramref name="buffer"/> completely, looping on short reads, within <paramref name="timeout"/> overall.</summary>
    /// <exception cref="EndOfStreamException">The peer closed the connection first.</exception>
    /// <exception cref="TimeoutException">The bytes did not arrive in time.</exception>
    public static unsafe void ReceiveExactly(SafeFdHandle socket, Span<byte> buffer, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var deadline = Deadline.After(timeout);
        fixed (byte* start = buffer)
        {
            var received = 0;
            while (received < buffer.Length)
            {
                if (!WaitReadable(socket, deadline.Remaining))
                {
                    throw new TimeoutException(
                        $"recv({socket}): only {received} of {buffer.Length} bytes arrived within {timeout.TotalSeconds:0.###} s.");
                }

                var n = Libc.Recv(socket, start + received, (nuint)(buffer.Length - received), 0);
                if (n < 0)
                {
                    var errno = LinuxException.LastErrno();
                    if (errno is Errno.EINTR or Errno.EAGAIN)
                    {
                        continue;
                    }

                    throw new LinuxException(errno, $"recv({socket})");
                }

                if (n == 0)
                {
                    throw new EndOfStreamException(
                        $"recv({socket}): the peer closed the connection after {received} of {buffer.Length} expected bytes.");
                }

                received += (int)n;
            }
        }
    }

    /// <summary>Sends one descriptor as CRIU does: a 1-byte payload (0x00) with one SCM_RIGHTS control message.</summary>
    public static void SendFd(SafeFdHandle socket, SafeFdHandle fdToSend)
    {
        ArgumentNullException.ThrowIfNull(fdToSend);
        ReadOnlySpan<byte> payload = [0];
        SendMessage(socket, payload, fdToSend, "SCM_RIGHTS");
    }

    /// <summary>
    /// Sends <paramref name="payload"/> in one <c>sendmsg</c> (MSG_NOSIGNAL, retried on EINTR), with
    /// <paramref name="attached"/> duplicated into the receiver by one SCM_RIGHTS control message when not null.
    /// <paramref name="what"/> names the message in the error.
    /// </summary>
    /// <exception cref="LinuxException">The peer is gone (EPIPE, ECONNRESET) or the send failed.</exception>
    public static unsafe void SendMessage(SafeFdHandle socket, ReadOnlySpan<byte> payload, SafeFdHandle? attached, string what)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var added = false;
        attached?.DangerousAddRef(ref added);
        try
        {
            fixed (byte* data = payload)
            {
                var iov = new Iovec { Base = data, Length = (nuint)payload.Length };
                var controlSize = Cmsg.Space(sizeof(int));
                var control = stackalloc byte[controlSize];
                new Span<byte>(control, controlSize).Clear();
                var message = new Msghdr { Iov = &iov, IovLength = 1 };
                if (attached is not null)
                {
                    message.Control = control;
                    message.ControlLength = (nuint)controlSize;
                    var header = Cmsg.FirstHeader(&message);
                    header->Level = SocketConstants.SOL_SOCKET;
                    header->Type = SocketConstants.SCM_RIGHTS;
                    header->Length = (nuint)Cmsg.Len(sizeof(int));
                    *(int*)Cmsg.Data(header) = attached.Fd;
                }

                while (Libc.SendMsg(socket, &message, SocketConstants.MSG_NOSIGNAL) < 0)
                {
                    if (LinuxException.LastErrno() != Errno.EINTR)
                    {
                        LinuxException.ThrowLast($"sendmsg({socket}, {what} {payload.Length} byte(s){(attached is null ? string.Empty : $" with {attached}")})");
                    }
                }
            }
        }
        finally
        {
            if (added)
            {
                attached!.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Receives one descriptor sent with <see cref="SendFd"/> (1 data byte + SCM_RIGHTS), waiting at most
    /// <paramref name="timeout"/>. The descriptor is received with MSG_CMSG_CLOEXEC.
    /// </summary>
    /// <exception cref="InvalidDataException">No descriptor came with the byte, or the control data was truncated.</exception>
    /// <exception cref="EndOfStreamException">The peer closed the connection.</exception>
    /// <exception cref="TimeoutException">Nothing arrived in time.</exception>
    public static unsafe SafeFdHandle ReceiveFd(SafeFdHandle socket, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var deadline = Deadline.After(timeout);
        byte payload = 0;
        var iov = new Iovec { Base = &payload, Length = 1 };
        var controlSize = Cmsg.Space(sizeof(int));
        var control = stackalloc byte[controlSize];
        Msghdr message;
        nint n;
        while (true)
        {
            if (!WaitReadable(socket, deadline.Remaining))
            {
                throw new TimeoutException($"recv_fd({socket}): no descriptor arrived within {timeout.TotalSeconds:0.###} s.");
            }

            new Span<byte>(control, controlSize).Clear();
            message = new Msghdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)controlSize };
            n = Libc.RecvMsg(socket, &message, SocketConstants.MSG_CMSG_CLOEXEC);
            if (n >= 0)
            {
                break;
            }

            var errno = LinuxException.LastErrno();
            if (errno is not (Errno.EINTR or Errno.EAGAIN))
            {
                throw new LinuxException(errno, $"recvmsg({socket})");
            }
        }

        if (n == 0)
        {
            throw new EndOfStreamException($"recv_fd({socket}): the peer closed the connection before sending a descriptor.");
        }

        SafeFdHandle? received = null;
        for (var header = Cmsg.FirstHeader(&message); header != null; header = Cmsg.NextHeader(&message, header))
        {
            if (header->Level != SocketConstants.SOL_SOCKET || header->Type != SocketConstants.SCM_RIGHTS)
            {
                continue;
            }

            var fdCount = ((int)header->Length - Cmsg.Len(0)) / sizeof(int);
            var fds = (int*)Cmsg.Data(header);
            for (var i = 0; i < fdCount; i++)
            {
                // Wrap every descriptor immediately so that extra ones are closed, never leaked.
                var handle = new SafeFdHandle(fds[i], ownsHandle: true);
                if (received is null)
                {
                    received = handle;
                }
                else
                {
                    handle.Dispose();
                }
            }
        }

        if ((message.Flags & SocketConstants.MSG_CTRUNC) != 0)
        {
            received?.Dispose();
            throw new InvalidDataException(
                $"recv_fd: no usable file descriptor on {socket}: control data truncated (MSG_CTRUNC); the peer sent more than one descriptor or other control data.");
        }

        return received ?? throw new InvalidDataException(
            $"recv_fd: no file descriptor in the control message received on {socket} (got {n} data byte(s) 0x{payload:x2} without SCM_RIGHTS).");
    }

    /// <summary>Copies the next <paramref name="word"/>.Length bytes without consuming them; false when fewer are queued.</summary>
    public static unsafe bool TryPeek(SafeFdHandle socket, Span<byte> word)
    {
        ArgumentNullException.ThrowIfNull(socket);
        fixed (byte* data = word)
        {
            nint n;
            do
            {
                n = Libc.Recv(socket, data, (nuint)word.Length, SocketConstants.MSG_PEEK | SocketConstants.MSG_DONTWAIT);
            }
            while (n < 0 && LinuxException.LastErrno() == Errno.EINTR);
            return n == word.Length;
        }
    }

    /// <summary>True when the peer hung up (POLLHUP or POLLRDHUP).</summary>
    public static unsafe bool IsHungUp(SafeFdHandle socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var added = false;
        socket.DangerousAddRef(ref added);
        try
        {
            var poll = new PollFd { Fd = socket.Fd, Events = PollFd.POLLIN | PollFd.POLLRDHUP };
            return Libc.Poll(&poll, 1, 0) > 0 && (poll.REvents & (PollFd.POLLHUP | PollFd.POLLRDHUP)) != 0;
        }
        finally
        {
            socket.DangerousRelease();
        }
    }

    /// <summary>
    /// Receives a 4-byte word and the byte after it with its descriptor in one <c>recvmsg</c> (a live task's pid and
    /// uffd, both already queued): the connection never stands between the two. False when fewer than 5 bytes came;
    /// <paramref name="fd"/> is null when no descriptor came with them.
    /// </summary>
    public static unsafe bool TryReceiveWordAndFd(SafeFdHandle socket, out int word, out SafeFdHandle? fd)
    {
        ArgumentNullException.ThrowIfNull(socket);
        word = 0;
        fd = null;
        var payload = stackalloc byte[5];
        var iov = new Iovec { Base = payload, Length = 5 };
        var controlSize = Cmsg.Space(sizeof(int));
        var control = stackalloc byte[controlSize];
        new Span<byte>(control, controlSize).Clear();
        var message = new Msghdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)controlSize };
        nint n;
        do
        {
            n = Libc.RecvMsg(socket, &message, SocketConstants.MSG_CMSG_CLOEXEC | SocketConstants.MSG_DONTWAIT);
        }
        while (n < 0 && LinuxException.LastErrno() == Errno.EINTR);
        if (n < 0)
        {
            LinuxException.ThrowLast($"recvmsg({socket})");
        }

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
                if (fd is null)
                {
                    fd = handle;
                }
                else
                {
                    handle.Dispose();
                }
            }
        }

        if ((message.Flags & SocketConstants.MSG_CTRUNC) != 0)
        {
            fd?.Dispose();
            fd = null;
        }

        if (n != 5)
        {
            fd?.Dispose();
            fd = null;
            throw new InvalidDataException($"recvmsg({socket}): {n} of the 5 bytes of a pid and its uffd arrived");
        }

        word = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(new ReadOnlySpan<byte>(payload, 4));
        return true;
    }

    /// <summary>Waits until <paramref name="fd"/> is readable (or hung up); false on timeout.</summary>
    internal static unsafe bool WaitReadable(SafeFdHandle fd, TimeSpan timeout)
    {
        var deadline = Deadline.After(timeout);
        var added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            var poll = new PollFd { Fd = fd.Fd, Events = PollFd.POLLIN };
            while (true)
            {
                var rc = Libc.Poll(&poll, 1, deadline.RemainingMilliseconds);
                if (rc > 0)
                {
                    return true;
                }

                if (rc == 0)
                {
                    return false;
                }

                if (LinuxException.LastErrno() != Errno.EINTR)
                {
                    LinuxException.ThrowLast($"poll({fd})");
                }
            }
        }
        finally
        {
            fd.DangerousRelease();
        }
    }

    private static SafeFdHandle NewSocket()
    {
        var fd = Libc.Socket(SocketConstants.AF_UNIX, SocketConstants.SOCK_STREAM | SocketConstants.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            LinuxException.ThrowLast("socket(AF_UNIX, SOCK_STREAM)");
        }

        return new SafeFdHandle(fd, ownsHandle: true);
    }

    private static unsafe string LocalPath(SafeFdHandle socket)
    {
        // A listener was bound under its staging name (see Listen), which is what getsockname reports.
        if (ListenedPaths.TryGetValue(socket, out var listened))
        {
            return listened;
        }

        var address = default(SockaddrUn);
        var length = (uint)SockaddrUn.Size;
        return Libc.GetSockName(socket, &address, &length) == 0 ? address.GetPath(length) : socket.ToString();
    }
}
