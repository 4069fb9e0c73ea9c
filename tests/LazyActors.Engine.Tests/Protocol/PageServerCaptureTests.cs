using System.Net;
using System.Net.Sockets;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Tests.Protocol.Support;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Engine.Tests.Protocol;

/// <summary>
/// The exchange captured from CRIU 4.2 (spec §4.4: pid 19370, anonymous area at 0x7f09185f3000, pages 0-3 one run),
/// byte for byte, on both sides: our client must send exactly the captured requests, and our server must answer the
/// captured requests with exactly the captured replies.
/// </summary>
public sealed class PageServerCaptureTests
{
    private const int PageSize = 4096;
    private const int Pid = 19370;
    private const ulong Area = 0x7f09185f3000;
    private const string Get1 = "07000000" + "00000000" + "0100000000000000" + "00305f18097f0000" + "aa4b000000000000";
    private const string Reply1 = "06000400" + "00000000" + "0100000000000000" + "00305f18097f0000" + "aa4b000000000000";
    private const string Get100 = "07000000" + "00000000" + "6400000000000000" + "00405f18097f0000" + "aa4b000000000000";
    private const string Reply3 = "06000400" + "00000000" + "0300000000000000" + "00405f18097f0000" + "aa4b000000000000";
    private const string Close = "23100000" + "00000000" + "0000000000000000" + "0000000000000000" + "0000000000000000";
    private const string Status = "00000000";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Our_client_sends_the_captured_requests_and_accepts_the_captured_replies()
    {
        var sent = new List<string>();
        await using var source = ScriptedPageSource.Start(async c =>
        {
            await c.ReadRequestAsync();
            await c.SendAsync([.. Convert.FromHexString(Reply1), .. Page(0xA0)]);
            await c.ReadRequestAsync();
            await c.SendAsync([.. Convert.FromHexString(Reply3), .. Page(0xA1), .. Page(0xA2), .. Page(0xA3)]);
            await c.ReadRequestAsync();
            await c.SendAsync(Convert.FromHexString(Status));
            Assert.True(await c.WaitForEofAsync());
            sent.AddRange(c.RawRequests.Select(r => Convert.ToHexString(r).ToLowerInvariant()));
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        var first = new byte[PageSize];
        Assert.Equal(1, await client.GetPagesAsync(Pid, Area, 1, first).AsTask().WaitAsync(Bound));
        var rest = new byte[100 * PageSize];
        Assert.Equal(3, await client.GetPagesAsync(Pid, Area + PageSize, 100, rest).AsTask().WaitAsync(Bound));
        await client.CloseAsync().WaitAsync(Bound);
        await source.Completion.WaitAsync(Bound);

        Assert.Equal([Get1, Get100, Close], sent);
        Assert.Equal(Page(0xA0), first);
        Assert.Equal([.. Page(0xA1), .. Page(0xA2), .. Page(0xA3)], rest[..(3 * PageSize)]);
    }

    [Fact]
    public async Task Our_server_answers_the_captured_requests_with_the_captured_replies()
    {
        using var dir = new ScratchDirectory();
        TestCheckpoint.Write(dir.Path, new TestCheckpoint.TaskSpec(Pid,
        [
            new(Area, 4, PageFlags.Lazy | PageFlags.Present),
            new(Area + (8 * PageSize), 1, PageFlags.Lazy | PageFlags.Present),
        ]));
        using var store = LazyPageStore.Open(dir.Path);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), logger: new LogCapture().Logger);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.LocalEndPoint);
        await using var stream = new NetworkStream(socket);

        await stream.WriteAsync(Convert.FromHexString(Get1));
        Assert.Equal(Reply1, await ReadHexAsync(stream, 32));
        Assert.Equal(Fill(Area), await ReadAsync(stream, PageSize));

        await stream.WriteAsync(Convert.FromHexString(Get100));
        Assert.Equal(Reply3, await ReadHexAsync(stream, 32));
        var three = await ReadAsync(stream, 3 * PageSize);
        Assert.Equal(Fill(Area + PageSize).Concat(Fill(Area + (2 * PageSize))).Concat(Fill(Area + (3 * PageSize))), three);

        await stream.WriteAsync(Convert.FromHexString(Close));
        Assert.Equal(Status, await ReadHexAsync(stream, 4));
        socket.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await stream.ReadAsync(new byte[1]).AsTask().WaitAsync(Bound));
    }

    private static byte[] Page(byte value) => Enumerable.Repeat(value, PageSize).ToArray();

    private static byte[] Fill(ulong vaddr) => Page(TestCheckpoint.Fill(Pid, vaddr));

    private static async Task<byte[]> ReadAsync(Stream stream, int count)
    {
        var bytes = new byte[count];
        await stream.ReadExactlyAsync(bytes).AsTask().WaitAsync(Bound);
        return bytes;
    }

    private static async Task<string> ReadHexAsync(Stream stream, int count) =>
        Convert.ToHexString(await ReadAsync(stream, count)).ToLowerInvariant();
}
