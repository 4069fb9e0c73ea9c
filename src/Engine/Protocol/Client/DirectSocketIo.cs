using System.Net.Sockets;
using System.Runtime.InteropServices;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Protocol.Client;

/// <summary>
/// Plain-TCP I/O of a <see cref="PageServerClient"/> in blocking system calls of its own instead of .NET's socket
/// engine: a reply's data is taken with one <c>recv(MSG_WAITALL)</c> that sleeps in the kernel until every byte is in
/// the caller's buffer, and the reader thread is woken by the kernel itself. .NET emulates a blocking read on its
/// non-blocking descriptors: recv until EAGAIN, then its epoll thread wakes and signals the reader, which spins and
/// yields before it sleeps, and then recv again; per reply that is several syscalls and two thread wake-ups.
/// </summary>
/// <remarks>
/// The descriptor is switched to blocking mode for good (the socket is only used through this class afterwards, apart
/// from options and the close). A read blocked in the kernel is ended by <see cref="Interrupt"/> (shutdown(2): the
/// recv returns what it has, then EOF), which is what the client's failure path (a deadline, a dispose) calls before
/// it closes the stream; the handle is held during each call, so the descriptor cannot be closed (and reused) under it.
/// </remarks>
internal sealed class DirectSocketIo
{
    private readonly Socket _socket;

    private DirectSocketIo(Socket socket) => _socket = socket;

    /// <summary>Takes <paramref name="socket"/> over in blocking mode.</summary>
    /// <exception cref="LinuxException">fcntl failed.</exception>
    public static DirectSocketIo Take(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var handle = socket.SafeHandle;
        int flags = Libc.Fcntl(handle, Libc.F_GETFL, 0);
        if (flags < 0 || Libc.Fcntl(handle, Libc.F_SETFL, flags & ~OpenFlags.O_NONBLOCK) < 0)
        {
            throw new LinuxException((Errno)Marshal.GetLastPInvokeError(), "fcntl(O_NONBLOCK off) on a page-server connection");
        }

        return new DirectSocketIo(socket);
    }

    /// <summary>
    /// Fills as much of <paramref name="buffer"/> as one recv(MSG_WAITALL) gives: all of it, unless the peer closed,
    /// the connection was interrupted or a signal came (then fewer; 0 = EOF).
    /// </summary>
    /// <exception cref="LinuxException">recv failed (a reset, a closed descriptor).</exception>
    public unsafe int Receive(Span<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            while (true)
            {
                nint got = Libc.Recv(_socket.SafeHandle, start, (nuint)buffer.Length, Libc.MSG_WAITALL);
                if (got >= 0)
                {
                    return (int)got;
                }

                var errno = (Errno)Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    throw new LinuxException(errno, "recv from the page server");
                }
            }
        }
    }

    /// <summary>Sends all of <paramref name="data"/> (blocking while the socket's send buffer is full).</summary>
    /// <exception cref="LinuxException">send failed (a reset, a shut down connection).</exception>
    public unsafe void SendAll(ReadOnlySpan<byte> data)
    {
        fixed (byte* start = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint sent = Libc.Send(_socket.SafeHandle, start + done, (nuint)(data.Length - done), Libc.MSG_NOSIGNAL);
                if (sent >= 0)
                {
                    done += (int)sent;
                    continue;
                }

                var errno = (Errno)Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    throw new LinuxException(errno, "send to the page server");
                }
            }
        }
    }

    /// <summary>Ends a recv or send blocked in the kernel (shutdown both ways); best effort, the stream is closed next.</summary>
    public void Interrupt()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // already closed or never connected: nothing is blocked on it then
        }
    }
}
