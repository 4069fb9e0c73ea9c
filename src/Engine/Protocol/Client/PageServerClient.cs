using LazyActors.Engine.Ranges;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Protocol.Client;

/// <summary>
/// The lazy client's end of one page-server connection (what <c>criu lazy-pages --page-server</c> speaks), without
/// actors. Requests are pipelined: up to <see cref="PageServerClientOptions.MaxInFlight"/> PS_IOV_GETs are on the wire at
/// once (more callers wait for a place), written in batches, and answered strictly in order. Each reply must be
/// PS_IOV_ADD_F with PE_PRESENT echoing the request's vaddr and dst_id, with 0 &lt; nr_pages ≤ requested; its data is read
/// straight into the caller's memory.
/// <para>
/// Short replies: a server clamps a GET to the end of the run holding its first page, so
/// <see cref="GetPagesAsync"/> may return fewer pages than asked. The caller gets that count and asks again for the
/// rest (at once, or when it likes); <see cref="GetAllPagesAsync"/> does that loop for callers that want every page.
/// </para>
/// <para>
/// Failure: any broken reply, EOF, reset, or a reply later than <see cref="PageServerClientOptions.ReplyTimeout"/>
/// fails the connection: every pending request fails with a <see cref="PageServerException"/> naming the peer, what
/// happened and that request; later calls throw at once. Reconnect and re-issue. Thread-safe.
/// </para>
/// </summary>
public sealed class PageServerClient : IAsyncDisposable
{
    private const int PageSize = (int)PageGeometry.PageSize;
    private const int LowWaterMinRead = 64 << 10; // smaller reads (headers, a fault's pages) wake at the first byte
    private static readonly TimeSpan CloseNotifyTimeout = TimeSpan.FromSeconds(5);

    private readonly Stream _stream;
    private readonly PageServerClientOptions _options;
    private readonly SemaphoreSlim _window;
    private readonly SemaphoreSlim _queued = new(0);
    private readonly Lock _gate = new();
    private readonly Queue<PendingReply> _pending = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Timer _deadline;
    private readonly byte[] _header = new byte[PageServerIov.Size];
    private readonly Task _reader;
    private byte[] _batch;
    private byte[] _spare;
    private int _batchLength;
    private bool _flushing;
    private bool _closing;
    private bool _ended;
    private PageServerException? _failure;
    private long _deadlineArmedAt;
    private byte[]? _discard;
    private readonly Socket? _lowWaterSocket;
    private readonly DirectSocketIo? _direct;
    private int _lowWater = 1;

    private PageServerClient(Stream stream, string peer, PageServerClientOptions options, bool ownConnection = false)
    {
        _stream = stream;
        Peer = peer;
        TlsSession = stream is SslStream { IsAuthenticated: true } ssl ? $"{ssl.SslProtocol} {ssl.NegotiatedCipherSuite}" : null;
        _options = options;
        _lowWaterSocket = options.ReceiveLowWater > 0 && stream is NetworkStream network ? network.Socket : null;
        // Only a connection this client made itself: an inherited socket is shared with the process that passed it,
        // which the blocking mode (and the shutdown that ends a blocked read) would reach too.
        _direct = options.DirectIo && ownConnection && stream is NetworkStream plain ? DirectSocketIo.Take(plain.Socket) : null;
        _window = new SemaphoreSlim(options.MaxInFlight);
        _batch = new byte[(options.MaxInFlight + 1) * PageServerIov.Size];
        _spare = new byte[_batch.Length];
        _deadline = new Timer(OnDeadline, null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _reader = Task.Factory.StartNew(ReadReplies, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>The peer as address:port (name:port [address] when connected by name).</summary>
    public string Peer { get; }

    /// <summary>The negotiated TLS protocol and cipher suite ("Tls13 TLS_AES_256_GCM_SHA384"), or null on plain TCP.</summary>
    public string? TlsSession { get; }

    /// <summary>True when this connection does its I/O in blocking system calls of its own (<see cref="PageServerClientOptions.DirectIo"/>).</summary>
    internal bool UsesDirectIo => _direct is not null;

    /// <summary>The most requests on the wire at once.</summary>
    public int MaxInFlight => _options.MaxInFlight;

    /// <summary>Requests sent (or being sent) and not yet answered.</summary>
    public int InFlight
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>True once the connection failed; <see cref="Failure"/> says why.</summary>
    public bool IsFaulted => Volatile.Read(ref _failure) is not null;

    /// <summary>Why the connection failed, or null.</summary>
    public PageServerException? Failure => Volatile.Read(ref _failure);

    /// <summary>
    /// Connects to <paramref name="host"/>:<paramref name="port"/> like CRIU's <c>setup_tcp_client</c>: the host is an
    /// IPv4 or IPv6 literal or a name resolved with getaddrinfo, and each address is tried in turn. Then the TLS
    /// handshake when <see cref="PageServerClientOptions.Tls"/> is set (the server's certificate must name
    /// <paramref name="host"/> as given). No bytes are sent: the first request is the first GET.
    /// </summary>
    /// <exception cref="PageServerException">No address accepted the connection, or the handshake failed.</exception>
    public static async Task<PageServerClient> ConnectAsync(string host, int port, PageServerClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)port, (uint)IPEndPoint.MaxPort, nameof(port));
        options ??= PageServerClientOptions.Default;
        options.Validate();
        string target = FormatEndpoint(host, port);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(options.ConnectTimeout);
        try
        {
            IPAddress[] addresses = IPAddress.TryParse(host, out var literal)
                ? [literal]
                : await Dns.GetHostAddressesAsync(host, AddressFamily.Unspecified, bounded.Token).ConfigureAwait(false);
            var refusals = new List<string>();
            foreach (var address in addresses)
            {
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, port), bounded.Token).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    socket.Dispose();
                    refusals.Add($"{new IPEndPoint(address, port)}: {e.Message}");
                    continue;
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }

                string peer = literal is null ? $"{target} [{address}]" : target;
                return await AttachAsync(socket, peer, host, options, ownConnection: true, bounded.Token).ConfigureAwait(false);
            }

            throw new PageServerException(target, addresses.Length == 0
                ? "the name resolved to no address"
                : $"cannot connect: {string.Join("; ", refusals)}");
        }
        catch (SocketException e)
        {
            throw new PageServerException(target, $"cannot resolve the host: {e.Message}", e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PageServerException(target, $"no connection within {options.ConnectTimeout.TotalSeconds:0.###} s", e);
        }
    }

    /// <summary>
    /// Speaks the protocol on an already connected socket (CRIU's inherited <c>--ps-socket</c>), after a TLS handshake
    /// when <see cref="PageServerClientOptions.Tls"/> is set (<paramref name="tlsPeerName"/> is the name the server's
    /// certificate must carry). The client owns the socket from now on. Close such a connection with
    /// <see cref="ForceCloseAsync"/>: a socket held by another process too never sees EOF.
    /// </summary>
    /// <exception cref="PageServerException">The handshake failed.</exception>
    public static async Task<PageServerClient> AttachAsync(Socket socket, string? tlsPeerName = null, PageServerClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        options ??= PageServerClientOptions.Default;
        options.Validate();
        string peer = socket.RemoteEndPoint?.ToString() ?? "inherited socket";
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(options.ConnectTimeout);
        try
        {
            return await AttachAsync(socket, peer, tlsPeerName ?? peer, options, ownConnection: false, bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PageServerException(peer, $"no TLS handshake within {options.ConnectTimeout.TotalSeconds:0.###} s", e);
        }
    }

    /// <summary>
    /// Speaks the protocol over <paramref name="stream"/> as it is (a stream already wrapped in TLS, or any duplex
    /// byte stream); <paramref name="peer"/> names it in errors. <see cref="PageServerClientOptions.Tls"/> is not used.
    /// </summary>
    public static PageServerClient Attach(Stream stream, string peer, PageServerClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentException.ThrowIfNullOrEmpty(peer);
        options ??= PageServerClientOptions.Default;
        options.Validate();
        return new PageServerClient(stream, peer, options);
    }

    /// <summary>
    /// Asks for <paramref name="pages"/> pages of task <paramref name="pid"/> from dump address <paramref name="vaddr"/>
    /// and reads the reply's data into the start of <paramref name="destination"/>. Returns the number of pages the
    /// server sent, 1..<paramref name="pages"/>: fewer means the server clamped the request at the end of a run, and
    /// the caller asks again for the rest. Waits for a place in the window first.
    /// </summary>
    /// <exception cref="PageServerException">The connection failed (now or before).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first; a request already
    /// sent still has its reply read (and dropped), so the connection stays usable.</exception>
    public async ValueTask<int> GetPagesAsync(int pid, ulong vaddr, int pages, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pid);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pages); // never a GET for 0 pages: CRIU would drop the session
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pages, int.MaxValue / PageSize);
        if (vaddr % PageSize != 0)
        {
            throw new ArgumentException($"address 0x{vaddr:x} is not page aligned", nameof(vaddr));
        }

        if (destination.Length < pages * PageSize)
        {
            throw new ArgumentException($"destination holds {destination.Length} bytes, {pages} pages need {pages * PageSize}", nameof(destination));
        }

        ThrowIfUnusable();
        cancellationToken.ThrowIfCancellationRequested();
        await _window.WaitAsync(cancellationToken).ConfigureAwait(false);
        var reply = new PendingReply(new PageServerRequest(pid, vaddr, pages), destination, _options.InlineCompletions);
        reply.AbandonOn(cancellationToken);
        if (!Enqueue(reply, PageServerIov.Get(pid, vaddr, (ulong)pages), out bool flush))
        {
            _window.Release();
            throw UnusableError();
        }

        if (flush)
        {
            await FlushAsync().ConfigureAwait(false);
        }

        return await reply.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Fetches exactly <paramref name="pages"/> pages into <paramref name="destination"/>, asking again for what a short
    /// reply left out (each further GET waits for the previous reply). Throws like <see cref="GetPagesAsync"/>.
    /// </summary>
    public async ValueTask GetAllPagesAsync(int pid, ulong vaddr, int pages, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        int done = 0;
        while (done < pages)
        {
            int got = await GetPagesAsync(pid, vaddr + ((ulong)done * PageSize), pages - done, destination[(done * PageSize)..], cancellationToken).ConfigureAwait(false);
            done += got;
        }
    }

    /// <summary>
    /// Ends the session as CRIU's <c>disconnect_from_page_server</c> does: PS_IOV_CLOSE after every request already
    /// queued (their replies are still read and delivered), then the server's 4-byte status, which must be 0; with TLS,
    /// close_notify both ways. No request may be made once this is called.
    /// </summary>
    /// <exception cref="PageServerException">The connection failed, EOF instead of the status, or a non-zero status.</exception>
    public Task CloseAsync(CancellationToken cancellationToken = default) => EndAsync(PageServerCommand.Close, cancellationToken);

    /// <summary>
    /// Like <see cref="CloseAsync"/> with PS_IOV_FORCE_CLOSE, for an inherited socket: the server ends the session at once
    /// instead of waiting for EOF, which never comes while another process holds the socket.
    /// </summary>
    public Task ForceCloseAsync(CancellationToken cancellationToken = default) => EndAsync(PageServerCommand.ForceClose, cancellationToken);

    /// <summary>Drops the connection without a close command; pending requests fail with <see cref="PageServerException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        Fail("connection dropped by this client", null);
        try
        {
            await _reader.ConfigureAwait(false);
        }
        finally
        {
            _lifetime.Dispose();
            await _deadline.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task<PageServerClient> AttachAsync(Socket socket, string peer, string tlsPeerName, PageServerClientOptions options, bool ownConnection,
        CancellationToken cancellationToken)
    {
        socket.NoDelay = true; // requests are batched here; never wait for an ACK before sending one
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (options.Tls is { } tls)
        {
            try
            {
                stream = await tls.AuthenticateAsClientAsync(stream, tlsPeerName, cancellationToken).ConfigureAwait(false);
            }
            catch (AuthenticationException e)
            {
                throw new PageServerException(peer, $"TLS: {e.Message}", e);
            }
        }

        try
        {
            return new PageServerClient(stream, peer, options, ownConnection);
        }
        catch (LinuxException e)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw new PageServerException(peer, e.Message, e);
        }
    }

    private static string FormatEndpoint(string host, int port) =>
        host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";

    private async Task EndAsync(PageServerCommand command, CancellationToken cancellationToken)
    {
        var reply = new PendingReply(command);
        bool flush;
        lock (_gate)
        {
            if (_failure is null && !_ended && _closing)
            {
                throw new InvalidOperationException($"page server {Peer}: the session is already closing");
            }

            _closing = true;
        }

        if (!Enqueue(reply, command == PageServerCommand.Close ? PageServerIov.Close() : PageServerIov.ForceClose(), out flush))
        {
            throw UnusableError();
        }

        if (flush)
        {
            await FlushAsync().ConfigureAwait(false);
        }

        try
        {
            await reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Fail($"{reply.Describe()} abandoned by the caller", null);
            throw;
        }

        await _reader.ConfigureAwait(false);
    }

    /// <summary>Appends the request and its reply slot in one step, so the reply order is the wire order.</summary>
    private bool Enqueue(PendingReply reply, PageServerIov header, out bool flush)
    {
        lock (_gate)
        {
            flush = false;
            if (_failure is not null || _ended || (_closing && !reply.IsClose))
            {
                return false;
            }

            header.WriteTo(_batch.AsSpan(_batchLength));
            _batchLength += PageServerIov.Size;
            _pending.Enqueue(reply);
            if (!_flushing)
            {
                _flushing = true;
                flush = true;
            }
        }

        _queued.Release();
        return true;
    }

    /// <summary>Writes what has been queued, in batches, until nothing is left; one caller at a time does this.</summary>
    private async Task FlushAsync()
    {
        while (true)
        {
            byte[] writing;
            int length;
            lock (_gate)
            {
                if (_batchLength == 0 || _failure is not null)
                {
                    _flushing = false;
                    return;
                }

                writing = _batch;
                length = _batchLength;
                _batch = _spare;
                _spare = writing;
                _batchLength = 0;
            }

            try
            {
                if (_direct is not null)
                {
                    // A batch of 24-byte headers: the send buffer takes it at once unless the peer stopped reading.
                    _direct.SendAll(writing.AsSpan(0, length));
                }
                else
                {
                    await _stream.WriteAsync(writing.AsMemory(0, length), _lifetime.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                Fail($"sending {length / PageServerIov.Size} request(s) failed: {Describe(e)}", e);
                return;
            }
        }
    }

    /// <summary>
    /// The reader: one thread of its own with blocking reads, so a reply is taken off the socket the moment the kernel
    /// wakes it (a fault waits for no thread-pool continuation). The reply deadline is a timer that fails the
    /// connection, which closes the stream and so ends a blocked read.
    /// </summary>
    private void ReadReplies()
    {
        _options.ReaderThreadStarted?.Invoke();
        try
        {
            while (true)
            {
                _queued.Wait(_lifetime.Token);
                PendingReply reply;
                lock (_gate)
                {
                    reply = _pending.Peek();
                }

                ArmDeadline();
                int result = reply.IsClose ? ReadCloseStatus(reply) : ReadPages(reply);
                DisarmDeadline();
                lock (_gate)
                {
                    _pending.Dequeue();
                }

                reply.Complete(result);
                if (reply.IsClose)
                {
                    End();
                    return;
                }

                _window.Release();
            }
        }
        catch (PageServerException e)
        {
            Fail(e.Reason, e.InnerException);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException or AuthenticationException)
        {
            Fail(Describe(e), e); // after a deadline (or a drop) the failure was recorded first; this adds nothing then
        }
        finally
        {
            DisarmDeadline();
        }
    }

    private void ArmDeadline()
    {
        if (_options.ReplyTimeout != Timeout.InfiniteTimeSpan)
        {
            Volatile.Write(ref _deadlineArmedAt, Stopwatch.GetTimestamp());
            _deadline.Change(_options.ReplyTimeout, Timeout.InfiniteTimeSpan);
        }
    }

    private void DisarmDeadline()
    {
        Volatile.Write(ref _deadlineArmedAt, 0);
        _deadline.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// The timer: the reply now in line has been awaited for the whole deadline (a late callback meant for an earlier
    /// reply finds a later arming time and does nothing): the peer is stalled.
    /// </summary>
    private void OnDeadline(object? state)
    {
        long armedAt = Volatile.Read(ref _deadlineArmedAt);
        if (armedAt == 0)
        {
            return;
        }

        var left = _options.ReplyTimeout - Stopwatch.GetElapsedTime(armedAt);
        if (left > TimeSpan.Zero)
        {
            // Timers may fire a little early: wait for the rest (unless the reply arrived and disarmed meanwhile).
            if (Volatile.Read(ref _deadlineArmedAt) == armedAt)
            {
                try
                {
                    _deadline.Change(left + TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
                }
                catch (ObjectDisposedException)
                {
                    // the client was disposed meanwhile
                }
            }

            return;
        }

        Fail($"no reply within {_options.ReplyTimeout.TotalSeconds:0.###} s (stalled peer)", null);
    }

    private int ReadPages(PendingReply pending)
    {
        var request = pending.Request;
        ReadExactly(_header, $"the reply header to {request}");
        var reply = PageServerIov.ReadFrom(_header);
        if (reply.Kind != PageServerCommand.AddWithFlags || (reply.Flags & PageFlags.Present) == 0)
        {
            throw Violation($"malformed reply to {request}: {reply} (raw cmd 0x{reply.Command:x8}), expected PS_IOV_ADD_F with PE_PRESENT");
        }

        if (reply.Vaddr != request.Vaddr || reply.DstId != (ulong)request.Pid)
        {
            throw Violation($"out of order reply: expected the reply to {request}, got one for pid {reply.DstId} 0x{reply.Vaddr:x} ({reply.NrPages} pages)");
        }

        if (reply.NrPages == 0 || reply.NrPages > (ulong)request.Pages)
        {
            throw Violation($"reply to {request} carries nr_pages {reply.NrPages}; a server may shorten a request but not send 0 or more than asked");
        }

        int bytes = (int)reply.NrPages * PageSize;
        if (pending.TryClaim())
        {
            ReadExactly(pending.Destination.Span[..bytes], $"the {reply.NrPages} page(s) of the reply to {request}");
        }
        else
        {
            Discard(bytes, $"the {reply.NrPages} page(s) of the reply to {request} (abandoned by its caller)");
        }

        return (int)reply.NrPages;
    }

    private int ReadCloseStatus(PendingReply pending)
    {
        ReadExactly(_header.AsSpan(0, PageServerIov.CloseStatusSize), $"the status answering {pending.Describe()}");
        int status = BinaryPrimitives.ReadInt32LittleEndian(_header);
        if (status != 0)
        {
            throw Violation($"{pending.Describe()} answered with status {status}");
        }

        if (_stream is SslStream ssl)
        {
            DisarmDeadline();
            ExchangeCloseNotify(ssl);
        }

        return status;
    }

    /// <summary>
    /// CRIU ends a TLS session with gnutls_bye(SHUT_RDWR): it sends close_notify and waits for ours. Courtesy once the
    /// status said 0, so bounded and best effort.
    /// </summary>
    private void ExchangeCloseNotify(SslStream ssl)
    {
        try
        {
            // Called on the closing thread with blocking I/O (no synchronization context to deadlock); SslStream has no synchronous shutdown.
#pragma warning disable VSTHRD002
            ssl.ShutdownAsync().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
            if (ssl.CanTimeout)
            {
                ssl.ReadTimeout = (int)CloseNotifyTimeout.TotalMilliseconds;
            }

            while (ssl.Read(_header) > 0)
            {
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or AuthenticationException or NotSupportedException or InvalidOperationException or ObjectDisposedException)
        {
            // the session is over either way (the last write may still be returning: a second write is refused)
        }
    }

    private void ReadExactly(Span<byte> buffer, string what)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            // Only ever up to what is left of this reply: those bytes are sure to come (or EOF, or the deadline), so a
            // low-water mark never waits for bytes the peer will not send.
            SetLowWater(buffer.Length >= LowWaterMinRead ? Math.Min(buffer.Length - done, _options.ReceiveLowWater) : 1);
            int read = _direct is not null ? _direct.Receive(buffer[done..]) : _stream.Read(buffer[done..]);
            if (read == 0)
            {
                throw Violation($"connection closed by the peer after {done} of {buffer.Length} bytes of {what}");
            }

            done += read;
        }
    }

    /// <summary>SO_RCVLOWAT: a blocked read (the kernel's poll, hence .NET's socket engine) wakes once this many bytes
    /// are in the socket. Set only when it changes; plain TCP only (TLS records are read whole anyway).</summary>
    private void SetLowWater(int bytes)
    {
        if (_lowWaterSocket is null || bytes == _lowWater)
        {
            return;
        }

        _lowWaterSocket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReceiveLowWater, bytes);
        _lowWater = bytes;
    }

    private void Discard(int bytes, string what)
    {
        _discard ??= new byte[64 << 10];
        while (bytes > 0)
        {
            int chunk = Math.Min(bytes, _discard.Length);
            ReadExactly(_discard.AsSpan(0, chunk), what);
            bytes -= chunk;
        }
    }

    private PageServerException Violation(string reason) => new(Peer, reason);

    /// <summary>
    /// Fails the connection once: every pending request gets its own <see cref="PageServerException"/>, the stream is
    /// closed (which also ends a blocked read or write), and callers waiting for a window place wake up and throw.
    /// </summary>
    private void Fail(string reason, Exception? cause)
    {
        PendingReply[] failed;
        lock (_gate)
        {
            if (_failure is not null || _ended)
            {
                return;
            }

            failed = [.. _pending];
            _pending.Clear();
            string inFlight = failed.Length switch
            {
                0 => "nothing was in flight",
                1 => $"1 request was in flight: {failed[0].Describe()}",
                _ => $"{failed.Length} requests were in flight, first {failed[0].Describe()}, last {failed[^1].Describe()}",
            };
            _failure = new PageServerException(Peer, $"{reason}; {inFlight}", cause);
        }

        Shutdown();
        foreach (var reply in failed)
        {
            reply.Fail(new PageServerException(Peer, _failure.Reason, cause, reply.IsClose ? null : reply.Request));
        }

        _window.Release(failed.Length + 1 + (_options.MaxInFlight * 2));
    }

    /// <summary>The session ended with the close status: nothing pending, nothing more to send.</summary>
    private void End()
    {
        lock (_gate)
        {
            _ended = true;
        }

        Shutdown();
    }

    private void Shutdown()
    {
        _lifetime.Cancel();
        _direct?.Interrupt(); // a read blocked in the kernel ends only with the connection
        try
        {
            _stream.Dispose();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // the stream is being dropped; its own errors say nothing new
        }
    }

    private void ThrowIfUnusable()
    {
        if (UnusableErrorOrNull() is { } error)
        {
            throw error;
        }
    }

    private Exception UnusableError() =>
        UnusableErrorOrNull() ?? new InvalidOperationException($"page server {Peer}: the request could not be queued");

    private Exception? UnusableErrorOrNull()
    {
        lock (_gate)
        {
            if (_failure is not null)
            {
                return new PageServerException(Peer, _failure.Reason, _failure);
            }

            if (_ended)
            {
                return new ObjectDisposedException(nameof(PageServerClient), $"page server {Peer}: the session was closed");
            }

            return _closing ? new InvalidOperationException($"page server {Peer}: the session is closing; no new requests") : null;
        }
    }

    private static string Describe(Exception e) => e switch
    {
        IOException { InnerException: SocketException s } => $"{s.SocketErrorCode}: {s.Message}",
        SocketException s => $"{s.SocketErrorCode}: {s.Message}",
        _ => e.Message,
    };
}
