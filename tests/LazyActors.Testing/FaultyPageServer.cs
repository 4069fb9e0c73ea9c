using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Server;

namespace LazyActors.Testing;

/// <summary>What <see cref="FaultyPageServer"/> does with one GET.</summary>
public enum SourceFault
{
    /// <summary>The correct reply (clamped to the run, as CRIU and our server do).</summary>
    None,

    /// <summary>A correct but short reply: half the pages (at least one); the client must ask for the rest.</summary>
    Short,

    /// <summary>The reply to the next request first, then this one's (a broken server).</summary>
    OutOfOrder,

    /// <summary>A reply header whose dst_id is not the request's pid.</summary>
    WrongDstId,

    /// <summary>The header and half the data, then the connection is closed (FIN).</summary>
    CloseMidPayload,

    /// <summary>No reply; the connection stays open (a stalled source).</summary>
    Stall,

    /// <summary>The connection is reset (RST) instead of a reply.</summary>
    Reset,
}

/// <summary>
/// A lazy page server over a real checkpoint's pages (the bytes restored tasks verify) that misbehaves as a script
/// says, per connection and request: short replies, replies out of order, a wrong dst_id, a close in the middle of a
/// payload, a stall, a reset. It can stop accepting (a source that never comes back) and accept again on the same port
/// (a source restarted). Every wait is bounded; dispose ends every connection.
/// </summary>
public sealed class FaultyPageServer : IAsyncDisposable
{
    private const int PageSize = 4096;
    private readonly LazyPageStore _store;
    private readonly Func<int, int, PageServerIov, SourceFault> _script;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Task> _connections = [];
    private readonly ConcurrentQueue<string> _log = new();
    private readonly Lock _gate = new();
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private int _accepted;
    private long _pagesSent;

    private FaultyPageServer(LazyPageStore store, Func<int, int, PageServerIov, SourceFault> script)
    {
        _store = store;
        _script = script;
    }

    /// <summary>The port listened on (kept when accepting again).</summary>
    public int Port { get; private set; }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Pages sent in complete, correct replies.</summary>
    public long PagesSent => Interlocked.Read(ref _pagesSent);

    /// <summary>What happened, one line per event (connections, faults, closes).</summary>
    public IReadOnlyCollection<string> Log => _log;

    /// <summary>
    /// Listens on a free loopback port. <paramref name="script"/> gets (connection number from 1, request number on that
    /// connection from 1, the request) and says what to do.
    /// </summary>
    public static FaultyPageServer Start(LazyPageStore store, Func<int, int, PageServerIov, SourceFault> script)
    {
        var server = new FaultyPageServer(store, script);
        server.Listen(0);
        return server;
    }

    /// <summary>Stops accepting: new connections are refused; running ones go on.</summary>
    public void StopAccepting()
    {
        lock (_gate)
        {
            _listener?.Dispose();
            _listener = null;
        }

        _log.Enqueue("listener closed");
    }

    /// <summary>Accepts again on the same port (a restarted source).</summary>
    public void AcceptAgain()
    {
        Listen(Port);
        _log.Enqueue("listening again");
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        StopAccepting();
        await _stop.CancelAsync().ConfigureAwait(false);
        await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await Task.WhenAll(_connections).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _stop.Dispose();
    }

    private void Listen(int port)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        listener.Listen(16);
        Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        lock (_gate)
        {
            _listener = listener;
        }

        _acceptLoop = AcceptAsync(listener);
    }

    private async Task AcceptAsync(Socket listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            var number = Interlocked.Increment(ref _accepted);
            _log.Enqueue($"connection {number} accepted");
            _connections.Add(Task.Run(() => ServeAsync(socket, number)));
        }
    }

    private async Task ServeAsync(Socket socket, int connection)
    {
        socket.NoDelay = true;
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        var header = new byte[PageServerIov.Size];
        var request = 0;
        PageServerIov? held = null;
        try
        {
            while (true)
            {
                PageServerIov iov;
                if (!await ReadHeaderAsync(stream, header).ConfigureAwait(false))
                {
                    _log.Enqueue($"connection {connection}: EOF after {request} request(s)");
                    return;
                }

                iov = PageServerIov.ReadFrom(header);
                if (iov.Kind is PageServerCommand.Close or PageServerCommand.ForceClose)
                {
                    var status = new byte[4];
                    BinaryPrimitives.WriteInt32LittleEndian(status, 0);
                    await stream.WriteAsync(status, _stop.Token).ConfigureAwait(false);
                    _log.Enqueue($"connection {connection}: {iov.Kind}, status 0");
                    await ReadHeaderAsync(stream, header).ConfigureAwait(false); // EOF
                    return;
                }

                request++;
                var fault = _script(connection, request, iov);
                if (held is { } first)
                {
                    // The reply to this request goes out before the one held back.
                    await ReplyAsync(stream, iov, pages: null).ConfigureAwait(false);
                    await ReplyAsync(stream, first, pages: null).ConfigureAwait(false);
                    held = null;
                    continue;
                }

                if (fault != SourceFault.None)
                {
                    _log.Enqueue($"connection {connection} request {request}: {fault} ({iov})");
                }

                switch (fault)
                {
                    case SourceFault.None:
                        await ReplyAsync(stream, iov, pages: null).ConfigureAwait(false);
                        break;
                    case SourceFault.Short:
                        await ReplyAsync(stream, iov, pages: Math.Max(1, Clamp(iov) / 2)).ConfigureAwait(false);
                        break;
                    case SourceFault.OutOfOrder:
                        held = iov;
                        break;
                    case SourceFault.WrongDstId:
                        var wrong = PageServerIov.PagesReply(iov, 1);
                        wrong.DstId = iov.DstId + 1;
                        wrong.WriteTo(header);
                        await stream.WriteAsync(header, _stop.Token).ConfigureAwait(false);
                        await stream.WriteAsync(new byte[PageSize], _stop.Token).ConfigureAwait(false);
                        break;
                    case SourceFault.CloseMidPayload:
                        var pages = Clamp(iov);
                        PageServerIov.PagesReply(iov, pages).WriteTo(header);
                        await stream.WriteAsync(header, _stop.Token).ConfigureAwait(false);
                        await stream.WriteAsync(Data(iov, pages).AsMemory(0, (int)(pages * PageSize / 2)), _stop.Token).ConfigureAwait(false);
                        socket.Shutdown(SocketShutdown.Both);
                        return;
                    case SourceFault.Stall:
                        await Task.Delay(Timeout.Infinite, _stop.Token).WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
                        return;
                    case SourceFault.Reset:
                        socket.LingerState = new LingerOption(true, 0);
                        socket.Close();
                        return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or TimeoutException)
        {
            _log.Enqueue($"connection {connection}: ended ({e.GetType().Name})");
        }
    }

    private async Task<bool> ReadHeaderAsync(NetworkStream stream, byte[] header)
    {
        var done = 0;
        while (done < header.Length)
        {
            var read = await stream.ReadAsync(header.AsMemory(done), _stop.Token).ConfigureAwait(false);
            if (read == 0)
            {
                return false;
            }

            done += read;
        }

        return true;
    }

    /// <summary>Requests for pages the source does not hold (non-lazy, absent): a correct client never sends one.</summary>
    public IReadOnlyCollection<string> BadRequests => _bad;

    private readonly ConcurrentQueue<string> _bad = new();

    private ulong Clamp(PageServerIov request)
    {
        var lookup = _store.Find(request.DstId, request.Vaddr, request.NrPages, out _);
        if (lookup.Result == PageLookupResult.Found)
        {
            return lookup.Pages;
        }

        _bad.Enqueue($"{request}: {lookup.Reason}");
        throw new IOException($"the client asked for pages the source does not hold: {request} ({lookup.Reason}); closing");
    }

    private byte[] Data(PageServerIov request, ulong pages)
    {
        var lookup = _store.Find(request.DstId, request.Vaddr, pages, out var data);
        if (lookup.Result != PageLookupResult.Found || lookup.Pages != pages)
        {
            throw new InvalidOperationException($"no data for {request}");
        }

        var bytes = new byte[pages * PageSize];
        System.Runtime.InteropServices.Marshal.Copy(data, bytes, 0, bytes.Length);
        return bytes;
    }

    private async Task ReplyAsync(NetworkStream stream, PageServerIov request, ulong? pages)
    {
        var count = pages ?? Clamp(request);
        var header = new byte[PageServerIov.Size];
        PageServerIov.PagesReply(request, count).WriteTo(header);
        await stream.WriteAsync(header, _stop.Token).ConfigureAwait(false);
        await stream.WriteAsync(Data(request, count), _stop.Token).ConfigureAwait(false);
        Interlocked.Add(ref _pagesSent, (long)count);
    }
}
