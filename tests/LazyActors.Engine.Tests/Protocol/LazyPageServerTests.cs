using System.Net;
using System.Net.Sockets;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Tests.Protocol.Support;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Microsoft.Extensions.Logging;
using Xunit;

namespace LazyActors.Engine.Tests.Protocol;

/// <summary>Our client against our lazy page server over loopback: every fixture, many sessions, refusals, close, stop.</summary>
public sealed class LazyPageServerTests
{
    private const int PageSize = 4096;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    public static TheoryData<string> Fixtures => FixtureCatalog.All();

    [Theory]
    [MemberData(nameof(Fixtures))]
    public async Task Every_lazy_page_of_every_fixture_arrives_byte_for_byte_then_close_returns_status_zero(string label)
    {
        var log = new LogCapture();
        using var store = LazyPageStore.Open(FixtureCatalog.PathOf(label));
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), logger: log.Logger);
        var ended = EndedSessions(server);
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", server.LocalEndPoint.Port);

        if (store.ServedPages == 0)
        {
            // a lazy dump's images (PE_LAZY without data): the server holds nothing and says so
            var task = store.Checkpoint.Tasks.First(t => t.LazyRanges.Count > 0);
            var error = await Assert.ThrowsAsync<PageServerException>(() => client.GetPagesAsync(task.Pid, task.LazyRanges[0].Start, 1, new byte[PageSize]).AsTask().WaitAsync(Bound));
            Assert.Contains("connection closed by the peer", error.Message);
            Assert.Contains("PE_LAZY without PE_PRESENT", await log.WaitForAsync(LogLevel.Error, $"GET pid {task.Pid} 0x{task.LazyRanges[0].Start:x}", Bound));
            Assert.Equal(PageServerSessionEnd.BadRequest, (await ended.NextAsync(Bound)).End);
            return;
        }

        long pages = await LazyPagesVerifier.FetchAndVerifyAllAsync(client, store.Checkpoint, Bound);
        await client.CloseAsync().WaitAsync(Bound);

        Assert.Equal((long)store.ServedPages, pages);
        var result = await ended.NextAsync(Bound);
        Assert.Equal(PageServerSessionEnd.Closed, result.End);
        Assert.Equal(pages, result.PagesSent);
    }

    [SkippableTheory]
    [MemberData(nameof(Fixtures))]
    public async Task The_lazy_part_written_by_split_serves_the_same_bytes_in_the_same_runs(string label)
    {
        using var dir = new ScratchDirectory();
        CheckpointSplitter.Split(FixtureCatalog.PathOf(label), dir.Sub("eager"), dir.Sub("lazy"));
        using var original = Checkpoint.Open(FixtureCatalog.PathOf(label));
        using var store = LazyPageStore.Open(dir.Sub("lazy"));
        var whole = LazyPagesIndex.Build(original);
        Assert.All(original.Tasks, t => Assert.Equal(
            whole.RunsOf(t.Pid).Where(r => r.HasData).Select(r => (r.Vaddr, r.NrPages)),
            store.Index.RunsOf(t.Pid).Where(r => r.HasData).Select(r => (r.Vaddr, r.NrPages))));
        Skip.If(store.ServedPages == 0, $"{label} has no lazy pages with data (a lazy dump)");
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), logger: new LogCapture().Logger);
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", server.LocalEndPoint.Port);

        long pages = await LazyPagesVerifier.FetchAndVerifyAllAsync(client, original, Bound); // compared with the unsplit images
        await client.CloseAsync().WaitAsync(Bound);

        Assert.Equal((long)store.ServedPages, pages);
    }

    [Fact]
    public async Task Many_sessions_at_once_over_one_checkpoint_all_get_every_byte()
    {
        using var dir = new ScratchDirectory();
        SyntheticCheckpoint.Write(dir.Path, new SyntheticCheckpointOptions(4, 2 << 20, 7));
        using var store = LazyPageStore.Open(dir.Path);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), logger: new LogCapture().Logger);
        var ended = EndedSessions(server);

        var sessions = Enumerable.Range(0, 8).Select(async _ =>
        {
            await using var client = await PageServerClient.ConnectAsync("127.0.0.1", server.LocalEndPoint.Port, new PageServerClientOptions { MaxInFlight = 16 });
            long pages = await LazyPagesVerifier.FetchAndVerifyAllAsync(client, store.Checkpoint, Bound);
            await client.CloseAsync();
            return pages;
        }).ToArray();

        var fetched = await Task.WhenAll(sessions).WaitAsync(Bound);
        Assert.All(fetched, n => Assert.Equal((long)store.ServedPages, n));
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(PageServerSessionEnd.Closed, (await ended.NextAsync(Bound)).End);
        }

        Assert.Equal(8, server.SessionsSucceeded);
    }

    [Theory]
    [InlineData("unknown pid")]
    [InlineData("not lazy")]
    [InlineData("not dumped")]
    public async Task A_GET_for_pages_the_server_does_not_hold_is_logged_and_closes_the_session_without_a_reply(string what)
    {
        using var dir = new ScratchDirectory();
        TestCheckpoint.Write(dir.Path, new TestCheckpoint.TaskSpec(300, [new(0x10000, 2, PageFlags.Present), new(0x20000, 4, PageFlags.Lazy | PageFlags.Present)]));
        using var store = LazyPageStore.Open(dir.Path);
        var log = new LogCapture();
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), logger: log.Logger);
        var ended = EndedSessions(server);
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", server.LocalEndPoint.Port);
        var (pid, vaddr, reason) = what switch
        {
            "unknown pid" => (301, 0x20000UL, "unknown pid"),
            "not lazy" => (300, 0x10000UL, "not lazy"),
            _ => (300, 0x40000UL, "in no pagemap entry"),
        };

        Assert.Equal(4, await client.GetPagesAsync(300, 0x20000, 4, new byte[4 * PageSize]).AsTask().WaitAsync(Bound));
        var error = await Assert.ThrowsAsync<PageServerException>(() => client.GetPagesAsync(pid, vaddr, 1, new byte[PageSize]).AsTask().WaitAsync(Bound));

        Assert.Contains("connection closed by the peer after 0 of 32 bytes", error.Message);
        string logged = await log.WaitForAsync(LogLevel.Error, $"GET pid {pid} 0x{vaddr:x}+1p: not served", Bound);
        Assert.Contains(reason, logged);
        var result = await ended.NextAsync(Bound);
        Assert.Equal(PageServerSessionEnd.BadRequest, result.End);
        Assert.Equal(2, result.Requests);
        Assert.Equal(4, result.PagesSent);
    }

    [Fact]
    public async Task The_reply_echoes_the_request_padding_and_close_waits_for_the_clients_EOF()
    {
        using var dir = new ScratchDirectory();
        TestCheckpoint.Write(dir.Path, new TestCheckpoint.TaskSpec(300, [new(0x20000, 4, PageFlags.Lazy | PageFlags.Present)]));
        using var store = LazyPageStore.Open(dir.Path);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), logger: new LogCapture().Logger);
        var ended = EndedSessions(server);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.LocalEndPoint);
        await using var stream = new NetworkStream(socket);

        var get = new byte[32];
        (PageServerIov.Get(300, 0x21000, 9) with { Padding = 0xdeadbeef }).WriteTo(get);
        await stream.WriteAsync(get);
        var reply = new byte[32 + (3 * PageSize)];
        await stream.ReadExactlyAsync(reply).AsTask().WaitAsync(Bound);
        Assert.Equal("06000400efbeadde0300000000000000" + "0010020000000000" + "2c01000000000000", Convert.ToHexString(reply[..32]).ToLowerInvariant());
        Assert.All(reply[32..(32 + PageSize)], b => Assert.Equal(TestCheckpoint.Fill(300, 0x21000), b));

        PageServerIov.Close().WriteTo(get);
        await stream.WriteAsync(get);
        var status = new byte[4];
        await stream.ReadExactlyAsync(status).AsTask().WaitAsync(Bound);
        Assert.Equal(new byte[4], status);
        await Task.Delay(100);
        Assert.Equal(1, server.ActiveSessions); // still waiting for our EOF
        socket.Shutdown(SocketShutdown.Send);

        var result = await ended.NextAsync(Bound);
        Assert.Equal(PageServerSessionEnd.Closed, result.End);
        Assert.Equal(0, await stream.ReadAsync(status)); // and the server closed its side
    }

    [Fact]
    public async Task Force_close_answers_and_ends_at_once_and_a_torn_header_or_an_idle_client_fails_the_session()
    {
        using var dir = new ScratchDirectory();
        TestCheckpoint.Write(dir.Path, new TestCheckpoint.TaskSpec(300, [new(0x20000, 4, PageFlags.Lazy | PageFlags.Present)]));
        using var store = LazyPageStore.Open(dir.Path);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), new LazyPageServerOptions { IdleTimeout = TimeSpan.FromMilliseconds(300) }, new LogCapture().Logger);
        var ended = EndedSessions(server);

        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(server.LocalEndPoint);
            var command = new byte[32];
            PageServerIov.ForceClose().WriteTo(command);
            await socket.SendAsync(command);
            var status = new byte[8];
            Assert.Equal(4, await socket.ReceiveAsync(status).WaitAsync(Bound));
            Assert.Equal(0, await socket.ReceiveAsync(status).WaitAsync(Bound)); // the server ended without waiting for our EOF
            Assert.Equal(PageServerSessionEnd.ForceClosed, (await ended.NextAsync(Bound)).End);
        }

        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(server.LocalEndPoint);
            await socket.SendAsync(new byte[20]);
            socket.Shutdown(SocketShutdown.Send);
            var result = await ended.NextAsync(Bound);
            Assert.Equal(PageServerSessionEnd.Failed, result.End);
            Assert.Contains("inside a request header (20 of 32 bytes)", result.Error);
        }

        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(server.LocalEndPoint);
            var result = await ended.NextAsync(Bound);
            Assert.Equal(PageServerSessionEnd.Failed, result.End);
            Assert.Contains("idle timeout of 0.3 s", result.Error);
        }
    }

    [Fact]
    public async Task Stop_drains_running_sessions_then_aborts_the_idle_ones_and_accepts_no_more()
    {
        using var dir = new ScratchDirectory();
        TestCheckpoint.Write(dir.Path, new TestCheckpoint.TaskSpec(300, [new(0x20000, 4, PageFlags.Lazy | PageFlags.Present)]));
        using var store = LazyPageStore.Open(dir.Path);
        var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), logger: new LogCapture().Logger);
        var ended = EndedSessions(server);
        await using var idle = await PageServerClient.ConnectAsync("127.0.0.1", server.LocalEndPoint.Port);
        await using var busy = await PageServerClient.ConnectAsync("127.0.0.1", server.LocalEndPoint.Port);
        Assert.Equal(4, await busy.GetPagesAsync(300, 0x20000, 4, new byte[4 * PageSize]).AsTask().WaitAsync(Bound));
        await WaitUntilAsync(() => server.ActiveSessions == 2);

        var stopping = server.StopAsync(TimeSpan.FromMilliseconds(500));
        await busy.CloseAsync().WaitAsync(Bound); // a running session finishes normally while the server drains
        await stopping.WaitAsync(Bound);

        var results = new[] { await ended.NextAsync(Bound), await ended.NextAsync(Bound) };
        Assert.Contains(results, r => r.End == PageServerSessionEnd.Closed);
        Assert.Contains(results, r => r.End == PageServerSessionEnd.Stopped);
        await Assert.ThrowsAsync<PageServerException>(() => idle.GetPagesAsync(300, 0x20000, 1, new byte[PageSize]).AsTask().WaitAsync(Bound));
        await Assert.ThrowsAsync<PageServerException>(() => PageServerClient.ConnectAsync("127.0.0.1", server.LocalEndPoint.Port));
        await server.DisposeAsync();
    }

    [Fact]
    public async Task A_command_a_lazy_server_does_not_speak_is_refused()
    {
        using var dir = new ScratchDirectory();
        TestCheckpoint.Write(dir.Path, new TestCheckpoint.TaskSpec(300, [new(0x20000, 4, PageFlags.Lazy | PageFlags.Present)]));
        using var store = LazyPageStore.Open(dir.Path);
        var log = new LogCapture();
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), logger: log.Logger);
        var ended = EndedSessions(server);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.LocalEndPoint);

        var open2 = new byte[32];
        new PageServerIov { Command = (uint)PageServerCommand.Open2, DstId = (300UL << 8) | 1 }.WriteTo(open2);
        await socket.SendAsync(open2);

        Assert.Equal(0, await socket.ReceiveAsync(new byte[8]).WaitAsync(Bound));
        Assert.Equal(PageServerSessionEnd.BadRequest, (await ended.NextAsync(Bound)).End);
        Assert.True(log.Contains(LogLevel.Error, "unsupported command Open2"));
    }

    [Fact]
    public void Listen_addresses_are_ip_literals_as_in_criu()
    {
        Assert.Equal(new IPEndPoint(IPAddress.Any, 27000), LazyPageServer.ListenEndPoint(null, 27000));
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 1), LazyPageServer.ListenEndPoint("::1", 1));
        var error = Assert.Throws<ArgumentException>(() => LazyPageServer.ListenEndPoint("localhost", 1));
        Assert.Contains("IPv4 or IPv6", error.Message);
    }

    internal static SessionLog EndedSessions(LazyPageServer server) => new(server);

    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in time");
            await Task.Delay(10);
        }
    }
}
