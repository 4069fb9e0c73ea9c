using LazyActors.Engine.Ranges;
using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using LazyActors.Engine.Images;
using Microsoft.Extensions.Logging;

namespace LazyActors.Engine.Protocol.Server;

/// <summary>
/// One connection of a lazy page server, answered as <c>criu page-server --lazy-pages</c> answers it, one request at a
/// time in arrival order:
/// <list type="bullet">
/// <item>PS_IOV_GET: the pages clamped to the end of their run (<see cref="LazyPagesIndex"/>), as a reply header
/// <c>cmd = 0x00040006</c> echoing vaddr, dst_id and the request's padding, then the bytes, sent straight from the
/// mapping of the pages file.</item>
/// <item>A GET for pages the server does not hold (unknown pid, address not dumped, not lazy, no data, 0 pages): an
/// error naming pid and address is logged and the session is closed without a reply, as CRIU closes it (where CRIU
/// would crash on an unknown pid or hang on a non-lazy page).</item>
/// <item>PS_IOV_CLOSE: status 0, then the client's EOF is awaited (bounded); PS_IOV_FORCE_CLOSE: status 0 and the
/// session ends at once. With TLS, close_notify is exchanged first.</item>
/// <item>EOF between requests ends the session normally, as in CRIU. Other commands are refused (a lazy server).</item>
/// </list>
/// </summary>
public sealed class PageServerSession
{
    private const int PageSize = (int)PageGeometry.PageSize;
    private const int RequestsPerRead = 128;
    private const int MsgMore = 0x8000;

    private readonly Stream _stream;
    private readonly LazyPageStore _store;
    private readonly LazyPageServerOptions _options;
    private readonly ILogger _logger;
    private readonly byte[] _input = new byte[PageServerIov.Size * RequestsPerRead];
    private readonly byte[] _replyHeader = new byte[PageServerIov.Size];
    private readonly byte[] _small = new byte[PageServerIov.Size + (16 * PageSize)];
    private readonly bool _debug;
    private readonly Socket? _plainSocket;
    private int _inputStart;
    private int _inputEnd;
    private long _requests;
    private long _pagesSent;
    private TimeSpan _cpuAtStart;

    private PageServerSession(Stream stream, string peer, LazyPageStore store, LazyPageServerOptions options, ILogger logger, Socket? plainSocket = null)
    {
        _plainSocket = plainSocket;
        _stream = stream;
        Peer = peer;
        _store = store;
        _options = options;
        _logger = logger;
        _debug = logger.IsEnabled(LogLevel.Debug);
    }

    /// <summary>The client as address:port.</summary>
    public string Peer { get; }

    /// <summary>
    /// Serves one accepted socket until the session ends (the TLS handshake first when
    /// <see cref="LazyPageServerOptions.Tls"/> is set). Owns and closes the socket. Never throws for what the client or
    /// the network does: the result says how it ended. <paramref name="cancellationToken"/> aborts the session.
    /// </summary>
    public static async Task<PageServerSessionResult> ServeAsync(Socket socket, LazyPageStore store, LazyPageServerOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        string peer = socket.RemoteEndPoint?.ToString() ?? "inherited socket";
        socket.NoDelay = true; // each reply goes out at once: one send, or a header held by MSG_MORE that the sendfile after it pushes
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (options.Tls is { } tls)
        {
            using var handshake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            handshake.CancelAfter(options.HandshakeTimeout);
            try
            {
                stream = await tls.AuthenticateAsServerAsync(stream, options.TlsClientName, handshake.Token).ConfigureAwait(false);
                if (stream is SslStream ssl)
                {
                    logger.LogInformation("TLS session with {Peer}: {Protocol} {Cipher}, client certificate {Subject}",
                        peer, ssl.SslProtocol, ssl.NegotiatedCipherSuite, ssl.RemoteCertificate?.Subject);
                }
            }
            catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                string why = e is OperationCanceledException
                    ? (cancellationToken.IsCancellationRequested ? "server stopping" : $"no TLS handshake within {options.HandshakeTimeout.TotalSeconds:0.###} s")
                    : e.Message;
                logger.LogError("Refused TLS client {Peer}: {Reason}", peer, why);
                return new PageServerSessionResult(peer, cancellationToken.IsCancellationRequested ? PageServerSessionEnd.Stopped : PageServerSessionEnd.TlsRefused, 0, 0, why);
            }
        }

        return await ServeAsync(stream, options.Tls is null ? socket : null, peer, store, options, logger, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Serves a session over <paramref name="stream"/> as it is (already authenticated, or plain). Owns and closes the
    /// stream. Never throws for what the client or the network does.
    /// </summary>
    /// <remarks>
    /// The requests are read and answered with blocking I/O on a thread of the session's own: a client with one request
    /// in flight (CRIU's daemon asks one page per fault) then waits for the kernel to wake that thread, not for the
    /// thread pool to get round to a continuation. Stopping or cancelling closes the stream, which ends a blocked read.
    /// </remarks>
    public static Task<PageServerSessionResult> ServeAsync(Stream stream, string peer, LazyPageStore store, LazyPageServerOptions options, ILogger logger, CancellationToken cancellationToken) =>
        ServeAsync(stream, null, peer, store, options, logger, cancellationToken);

    /// <summary>With <paramref name="plainSocket"/> (the socket under a plain stream) big replies go out with sendfile.</summary>
    private static async Task<PageServerSessionResult> ServeAsync(Stream stream, Socket? plainSocket, string peer, LazyPageStore store, LazyPageServerOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        var session = new PageServerSession(stream, peer, store, options, logger, plainSocket);
        PageServerSessionResult result;
        await using (stream.ConfigureAwait(false))
        {
            using var abort = cancellationToken.UnsafeRegister(static s => ((Stream)s!).Dispose(), stream);
            result = await Task.Factory.StartNew(() => session.Run(cancellationToken), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        }

        if (result.Succeeded)
        {
            logger.LogInformation("Session with {Peer} over ({End}): {Requests} request(s), {Pages} page(s) sent, {CpuMs:0.0} ms CPU on its thread",
                peer, result.End, result.Requests, result.PagesSent, result.Cpu.TotalMilliseconds);
        }
        else if (result.End == PageServerSessionEnd.Stopped)
        {
            logger.LogWarning("Session with {Peer} aborted by the server's stop after {Requests} request(s), {Pages} page(s) sent", peer, result.Requests, result.PagesSent);
        }
        else
        {
            logger.LogError("Session with {Peer} failed ({End}) after {Requests} request(s), {Pages} page(s) sent: {Error}", peer, result.End, result.Requests, result.PagesSent, result.Error);
        }

        return result;
    }

    private PageServerSessionResult Run(CancellationToken cancellationToken)
    {
        _cpuAtStart = Diagnostics.ThreadCpu.OfCurrentThread();
        if (_options.SessionNice is { } nice && !Scheduling.ThreadScheduling.TrySetNice(nice))
        {
            _logger.LogWarning("{Peer}: the session's thread keeps its nice value: setpriority({Nice}) refused ({Errno})", Peer, nice, Interop.LinuxException.LastErrno());
        }

        try
        {
            while (true)
            {
                SetReadTimeout(_options.IdleTimeout);
                if (!ReadRequest())
                {
                    // A stop closes the stream under a blocked read, which may then see an EOF rather than an error.
                    return cancellationToken.IsCancellationRequested
                        ? Result(PageServerSessionEnd.Stopped, "server stopping")
                        : Result(PageServerSessionEnd.PeerClosed);
                }

                var request = PageServerIov.ReadFrom(_input.AsSpan(_inputStart - PageServerIov.Size));
                _requests++;
                switch (request.Kind)
                {
                    case PageServerCommand.Get:
                        if (ServeGet(request) is { } refusal)
                        {
                            return Result(PageServerSessionEnd.BadRequest, refusal);
                        }

                        break;
                    case PageServerCommand.Close:
                        return Close();
                    case PageServerCommand.ForceClose:
                        SendCloseStatus();
                        return Result(PageServerSessionEnd.ForceClosed);
                    default:
                        string error = $"unsupported command {request} (raw cmd 0x{request.Command:x8}): this is a lazy page server (GET, CLOSE, FORCE_CLOSE only); closing the session";
                        _logger.LogError("{Peer}: {Error}", Peer, error);
                        return Result(PageServerSessionEnd.BadRequest, error);
                }
            }
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            return Result(PageServerSessionEnd.Stopped, "server stopping");
        }
        catch (IOException e) when (IsTimeout(e))
        {
            return Result(PageServerSessionEnd.Failed, $"no request within the idle timeout of {_options.IdleTimeout.TotalSeconds:0.###} s");
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or AuthenticationException or InvalidDataException or ImageFormatException)
        {
            return Result(PageServerSessionEnd.Failed, e.Message);
        }
    }

    /// <summary>Answers one GET; returns why it was refused (then the session ends without a reply), or null.</summary>
    private unsafe string? ServeGet(PageServerIov request)
    {
        var lookup = _store.Find(request.DstId, request.Vaddr, request.NrPages, out nint data);
        if (lookup.Result != PageLookupResult.Found)
        {
            string error = $"GET pid {request.DstId} 0x{request.Vaddr:x}+{request.NrPages}p: not served: {lookup.Reason}; closing the session without a reply";
            _logger.LogError("{Peer}: {Error}", Peer, error);
            return error;
        }

        if (_debug)
        {
            _logger.LogDebug("{Peer}: GET pid {Pid} 0x{Vaddr:x}+{Asked}p -> {Pages}p", Peer, lookup.Pid, request.Vaddr, request.NrPages, lookup.Pages);
        }

        int bytes = checked((int)lookup.Pages * PageSize);
        var pages = new ReadOnlySpan<byte>((void*)data, bytes);
        if (_plainSocket is not null && PageServerIov.Size + bytes <= _small.Length)
        {
            // A small reply (a fault's page) goes out in one write: one syscall, one segment. Not with TLS: there the
            // header and the data must be records of their own, because CRIU's client reads the header record when its
            // socket is readable and would leave the data of the same record unread inside GnuTLS, waiting for the
            // socket to become readable again (it hangs).
            PageServerIov.PagesReply(request, lookup.Pages).WriteTo(_small);
            pages.CopyTo(_small.AsSpan(PageServerIov.Size));
            _stream.Write(_small, 0, PageServerIov.Size + bytes);
        }
        else if (_plainSocket is { } socket && _store.TryGetPagesFile(lookup.Pid, out var file))
        {
            // The kernel sends the bytes from the page cache (sendfile): no copy through this process. The header goes
            // with MSG_MORE, so it waits in the socket for the data and leaves in the first full segment with it instead
            // of a 32-byte segment of its own (a client waiting for the header wakes once per reply, not twice); the
            // last sendfile pushes everything. Two syscalls per reply, where corking around it took four.
            PageServerIov.PagesReply(request, lookup.Pages).WriteTo(_replyHeader);
            SendAll(socket, _replyHeader, MsgMore);
            SendFile(socket, file, lookup.PagesFileOffset, bytes, lookup.Pid);
        }
        else
        {
            PageServerIov.PagesReply(request, lookup.Pages).WriteTo(_replyHeader);
            _stream.Write(_replyHeader);
            _stream.Write(pages);
        }

        _pagesSent += (long)lookup.Pages;
        return null;
    }

    /// <summary>send(2) with <paramref name="flags"/> until every byte went, waiting for room in the socket as <see cref="SendFile"/> does.</summary>
    private static unsafe void SendAll(Socket socket, ReadOnlySpan<byte> bytes, int flags)
    {
        fixed (byte* start = bytes)
        {
            int sent = 0;
            while (sent < bytes.Length)
            {
                nint n = Interop.Libc.Send(socket.SafeHandle, start + sent, (nuint)(bytes.Length - sent), flags | Interop.Libc.MSG_NOSIGNAL);
                if (n >= 0)
                {
                    sent += (int)n;
                    continue;
                }

                WaitForRoom(socket, "send");
            }
        }
    }

    /// <summary>sendfile until every byte went, waiting for room in the socket (bounded slices, so a stop is noticed).</summary>
    private static unsafe void SendFile(Socket socket, Microsoft.Win32.SafeHandles.SafeFileHandle file, long offset, int bytes, int pid)
    {
        long left = bytes;
        while (left > 0)
        {
            nint sent = Interop.Libc.SendFile(socket.SafeHandle, file, &offset, (nuint)left);
            if (sent > 0)
            {
                left -= sent;
                continue;
            }

            if (sent == 0)
            {
                throw new ImageFormatException($"pages file of pid {pid}", $"it ended before offset {offset + left}");
            }

            WaitForRoom(socket, "sendfile");
        }
    }

    /// <summary>
    /// After a send that moved nothing (errno set): returns at once on EINTR, polls (200 ms at most, so a stop is
    /// noticed) on EAGAIN, throws on anything else.
    /// </summary>
    private static unsafe void WaitForRoom(Socket socket, string call)
    {
        var errno = Interop.LinuxException.LastErrno();
        if (errno == Interop.Errno.EINTR)
        {
            return;
        }

        if (errno != Interop.Errno.EAGAIN)
        {
            throw new IOException($"{call}: {errno}", new SocketException((int)errno));
        }

        if (socket.SafeHandle.IsClosed)
        {
            throw new ObjectDisposedException(nameof(Socket));
        }

        var poll = new Interop.PollFd { Fd = (int)socket.SafeHandle.DangerousGetHandle(), Events = Interop.PollFd.POLLOUT };
        _ = Interop.Libc.Poll(&poll, 1, 200);
    }

    private PageServerSessionResult Close()
    {
        SendCloseStatus();
        SetReadTimeout(_options.CloseLingerTimeout);
        try
        {
            int unexpected = _inputEnd - _inputStart;
            while (unexpected == 0)
            {
                int read = _stream.Read(_input);
                if (read == 0)
                {
                    return Result(PageServerSessionEnd.Closed);
                }

                unexpected = read;
            }

            return Result(PageServerSessionEnd.Failed, $"unexpected data after PS_IOV_CLOSE ({unexpected} byte(s)); the status was sent");
        }
        catch (IOException e) when (IsTimeout(e))
        {
            _logger.LogWarning("{Peer}: no EOF within {Seconds} s after PS_IOV_CLOSE; closing anyway", Peer, _options.CloseLingerTimeout.TotalSeconds);
            return Result(PageServerSessionEnd.Closed);
        }
    }

    /// <summary>The int32 status 0; with TLS then close_notify (CRIU's gnutls_bye on success).</summary>
    private void SendCloseStatus()
    {
        BinaryPrimitives.WriteInt32LittleEndian(_replyHeader, 0);
        _stream.Write(_replyHeader, 0, PageServerIov.CloseStatusSize);
        _stream.Flush();
        if (_stream is SslStream ssl)
        {
            // A session runs on a thread of its own with blocking I/O (no synchronization context to deadlock) and SslStream has no synchronous shutdown.
#pragma warning disable VSTHRD002
            ssl.ShutdownAsync().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
        }
    }

    /// <summary>
    /// Makes the next 32-byte request available (requests are read in bulk: a pipelining client sends many at once).
    /// False on EOF between requests; EOF inside one is an error.
    /// </summary>
    private bool ReadRequest()
    {
        while (_inputEnd - _inputStart < PageServerIov.Size)
        {
            if (_inputStart > 0)
            {
                int kept = _inputEnd - _inputStart;
                _input.AsSpan(_inputStart, kept).CopyTo(_input);
                _inputStart = 0;
                _inputEnd = kept;
            }

            int read = _stream.Read(_input.AsSpan(_inputEnd));
            if (read == 0)
            {
                if (_inputEnd == _inputStart)
                {
                    return false;
                }

                throw new InvalidDataException($"connection closed inside a request header ({_inputEnd - _inputStart} of {PageServerIov.Size} bytes)");
            }

            _inputEnd += read;
        }

        _inputStart += PageServerIov.Size;
        return true;
    }

    /// <summary>Bounds the next blocking reads (infinite: none).</summary>
    private void SetReadTimeout(TimeSpan timeout)
    {
        if (_stream.CanTimeout)
        {
            _stream.ReadTimeout = timeout == Timeout.InfiniteTimeSpan ? Timeout.Infinite : (int)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue);
        }
    }

    private static bool IsTimeout(IOException e) => e.InnerException is SocketException { SocketErrorCode: SocketError.TimedOut or SocketError.WouldBlock };

    private PageServerSessionResult Result(PageServerSessionEnd end, string? error = null) =>
        new(Peer, end, _requests, _pagesSent, error) { Cpu = Diagnostics.ThreadCpu.OfCurrentThread() - _cpuAtStart };
}
