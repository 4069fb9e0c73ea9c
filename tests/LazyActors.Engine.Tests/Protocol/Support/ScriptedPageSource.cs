using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using LazyActors.Engine.Protocol;

namespace LazyActors.Engine.Tests.Protocol.Support;

/// <summary>
/// A fake page server on loopback that plays a script against one client connection: read requests, send replies
/// (correct or deliberately broken), stall, close or reset. Reusable for any test of a page-server client. The script
/// runs when the client connects; <see cref="Completion"/> ends with the script (its exceptions included). Everything is
/// bounded: disposing stops the listener and closes the connection.
/// </summary>
internal sealed class ScriptedPageSource : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();

    private ScriptedPageSource(Func<ScriptedConnection, Task> script)
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start(1);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        Completion = RunAsync(script);
    }

    public int Port { get; }

    /// <summary>Ends when the script has run (faulted if it threw).</summary>
    public Task Completion { get; }

    public static ScriptedPageSource Start(Func<ScriptedConnection, Task> script) => new(script);

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            await Completion.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // the script was cut short by the test's end
        }

        _stop.Dispose();
    }

    private async Task RunAsync(Func<ScriptedConnection, Task> script)
    {
        using var socket = await _listener.AcceptSocketAsync(_stop.Token);
        socket.NoDelay = true;
        await using var connection = new ScriptedConnection(socket, _stop.Token);
        await script(connection);
    }
}

/// <summary>The server side of one scripted connection.</summary>
internal sealed class ScriptedConnection : IAsyncDisposable
{
    private const int PageSize = 4096;
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly CancellationToken _stop;

    public ScriptedConnection(Socket socket, CancellationToken stop)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _stop = stop;
    }

    /// <summary>Raw bytes of every request read so far.</summary>
    public List<byte[]> RawRequests { get; } = [];

    /// <summary>Reads one 32-byte request (bounded: 10 s).</summary>
    public async Task<PageServerIov> ReadRequestAsync()
    {
        var bytes = new byte[PageServerIov.Size];
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(_stop);
        bound.CancelAfter(TimeSpan.FromSeconds(10));
        await _stream.ReadExactlyAsync(bytes, bound.Token);
        RawRequests.Add(bytes);
        return PageServerIov.ReadFrom(bytes);
    }

    /// <summary>Reads <paramref name="count"/> requests.</summary>
    public async Task<List<PageServerIov>> ReadRequestsAsync(int count)
    {
        var requests = new List<PageServerIov>(count);
        for (int i = 0; i < count; i++)
        {
            requests.Add(await ReadRequestAsync());
        }

        return requests;
    }

    /// <summary>Sends raw bytes.</summary>
    public Task SendAsync(byte[] bytes) => _stream.WriteAsync(bytes, _stop).AsTask();

    /// <summary>Sends a reply header exactly as given.</summary>
    public Task SendHeaderAsync(PageServerIov header)
    {
        var bytes = new byte[PageServerIov.Size];
        header.WriteTo(bytes);
        return SendAsync(bytes);
    }

    /// <summary>The correct reply to <paramref name="request"/> with <paramref name="pages"/> pages, page k filled with <see cref="PageByte"/>.</summary>
    public async Task ReplyAsync(PageServerIov request, ulong pages)
    {
        await SendHeaderAsync(PageServerIov.PagesReply(request, pages));
        await SendAsync(PagesFor(request.Vaddr, (int)pages));
    }

    /// <summary>The status of a close command.</summary>
    public Task SendStatusAsync(int status)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, status);
        return SendAsync(bytes);
    }

    /// <summary>Waits until the test ends (a stalled peer), bounded by 30 s.</summary>
    public async Task StallAsync()
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(30), _stop);
        }
        catch (OperationCanceledException)
        {
            // released by the test's end
        }
    }

    /// <summary>Closes with an RST instead of a FIN.</summary>
    public void Reset()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Close();
    }

    /// <summary>Closes normally (FIN).</summary>
    public void Close() => _socket.Shutdown(SocketShutdown.Both);

    /// <summary>Waits (bounded) for the client's EOF; true when it came.</summary>
    public async Task<bool> WaitForEofAsync()
    {
        var buffer = new byte[64];
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(_stop);
        bound.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            return await _stream.ReadAsync(buffer, bound.Token) == 0;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>The byte page <paramref name="vaddr"/> is filled with in replies.</summary>
    public static byte PageByte(ulong vaddr) => (byte)((vaddr >> 12) * 7 + 1);

    public static byte[] PagesFor(ulong vaddr, int pages)
    {
        var bytes = new byte[pages * PageSize];
        for (int k = 0; k < pages; k++)
        {
            bytes.AsSpan(k * PageSize, PageSize).Fill(PageByte(vaddr + ((ulong)k * PageSize)));
        }

        return bytes;
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
