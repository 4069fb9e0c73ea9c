using System.Buffers.Binary;
using System.Net.Sockets;
using LazyActors.Engine.Protocol;

namespace LazyActors.Engine.Tests.Protocol.Support;

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
