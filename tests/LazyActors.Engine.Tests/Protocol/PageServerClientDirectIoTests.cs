using System.Diagnostics;
using System.Net.Sockets;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Tests.Protocol.Support;
using Xunit;

namespace LazyActors.Engine.Tests.Protocol;

/// <summary>
/// The client with <see cref="PageServerClientOptions.DirectIo"/> (blocking recv(MSG_WAITALL) and send of its own)
/// against a scripted source: data that trickles in, the failures that must end a read blocked in the kernel (the
/// reply deadline, a dispose, EOF, a reset), and the close; and that an inherited socket never gets it.
/// </summary>
public sealed class PageServerClientDirectIoTests
{
    private const int PageSize = 4096;
    private const int Pid = 4242;
    private const ulong Base = 0x7f00_0000_0000;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly PageServerClientOptions Direct = new() { DirectIo = true };

    [Fact]
    public async Task Pipelined_replies_trickling_in_land_whole_in_each_callers_memory()
    {
        const int BigPages = 300; // 1.2 MiB sent in 20,000-byte pieces with pauses: the recv sleeps between them
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var requests = await c.ReadRequestsAsync(3);
            await c.SendHeaderAsync(PageServerIov.PagesReply(requests[0], BigPages));
            var data = ScriptedConnection.PagesFor(requests[0].Vaddr, BigPages);
            for (int at = 0; at < data.Length; at += 20_000)
            {
                await c.SendAsync(data[at..Math.Min(at + 20_000, data.Length)]);
                if (at % 200_000 == 0)
                {
                    await Task.Delay(5);
                }
            }

            await c.ReplyAsync(requests[1], 1);
            await c.ReplyAsync(requests[2], 2); // short: the caller asks again
            var rest = await c.ReadRequestAsync();
            await c.ReplyAsync(rest, rest.NrPages);
            await c.ReadRequestAsync(); // CLOSE
            await c.SendStatusAsync(0);
            Assert.True(await c.WaitForEofAsync());
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port, Direct);
        Assert.True(client.UsesDirectIo);

        var big = new byte[BigPages * PageSize];
        var one = new byte[PageSize];
        var four = new byte[4 * PageSize];
        var fetches = new[]
        {
            client.GetPagesAsync(Pid, Base, BigPages, big).AsTask(),
            client.GetPagesAsync(Pid, Base + (1000UL * PageSize), 1, one).AsTask(),
            client.GetAllPagesAsync(Pid, Base + (2000UL * PageSize), 4, four).AsTask().ContinueWith(_ => 4, TaskScheduler.Default),
        };

        var got = await Task.WhenAll(fetches).WaitAsync(Bound);
        Assert.Equal(new[] { BigPages, 1, 4 }, got);
        Assert.Equal(ScriptedConnection.PagesFor(Base, BigPages), big);
        Assert.Equal(ScriptedConnection.PagesFor(Base + (1000UL * PageSize), 1), one);
        Assert.Equal(ScriptedConnection.PagesFor(Base + (2000UL * PageSize), 4), four);
        await client.CloseAsync().WaitAsync(Bound);
        await source.Completion.WaitAsync(Bound);
    }

    [Fact]
    public async Task A_stalled_peer_fails_after_the_reply_deadline_though_the_read_sleeps_in_the_kernel()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var requests = await c.ReadRequestsAsync(2);
            await c.SendHeaderAsync(PageServerIov.PagesReply(requests[0], 2));
            await c.SendAsync(new byte[3000]); // part of the data, then nothing: recv(MSG_WAITALL) waits for the rest
            await c.StallAsync();
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port, Direct with { ReplyTimeout = TimeSpan.FromMilliseconds(300) });
        Assert.True(client.UsesDirectIo);

        var clock = Stopwatch.StartNew();
        var fetches = Enumerable.Range(0, 2).Select(i => client.GetPagesAsync(Pid, Base + ((ulong)i * PageSize * 4), 2, new byte[2 * PageSize]).AsTask()).ToArray();
        foreach (var fetch in fetches)
        {
            var error = await Assert.ThrowsAsync<PageServerException>(() => fetch.WaitAsync(Bound));
            Assert.Contains("no reply within 0.3 s (stalled peer)", error.Message);
        }

        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        await client.DisposeAsync().AsTask().WaitAsync(Bound); // the reader thread ended
    }

    [Fact]
    public async Task Disposing_ends_a_blocked_read_and_fails_the_pending_request()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            await c.ReadRequestAsync();
            await c.StallAsync();
        });
        var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port, Direct);
        var fetch = client.GetPagesAsync(Pid, Base, 1, new byte[PageSize]).AsTask();
        await Task.Delay(100);

        await client.DisposeAsync().AsTask().WaitAsync(Bound);

        var error = await Assert.ThrowsAsync<PageServerException>(() => fetch.WaitAsync(Bound));
        Assert.Contains("connection dropped by this client", error.Message);
    }

    [Fact]
    public async Task EOF_in_the_middle_of_the_pages_fails_the_request()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var request = await c.ReadRequestAsync();
            await c.SendHeaderAsync(PageServerIov.PagesReply(request, 2));
            await c.SendAsync(new byte[5000]);
            c.Close();
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port, Direct);

        var error = await Assert.ThrowsAsync<PageServerException>(() => client.GetPagesAsync(Pid, Base, 2, new byte[2 * PageSize]).AsTask().WaitAsync(Bound));
        Assert.Contains("after 5000 of 8192 bytes of the 2 page(s) of the reply", error.Message);
    }

    [Fact]
    public async Task A_reset_fails_every_pending_request()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            await c.ReadRequestsAsync(2);
            c.Reset();
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port, Direct);

        var fetches = Enumerable.Range(0, 2).Select(i => client.GetPagesAsync(Pid, Base + ((ulong)i * PageSize), 1, new byte[PageSize]).AsTask()).ToArray();
        foreach (var fetch in fetches)
        {
            var error = await Assert.ThrowsAsync<PageServerException>(() => fetch.WaitAsync(Bound));
            Assert.Contains("ECONNRESET", error.Message);
            Assert.Contains($"127.0.0.1:{source.Port}", error.Message);
        }
    }

    [Fact]
    public async Task An_attached_socket_is_never_taken_into_blocking_mode()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var request = await c.ReadRequestAsync();
            await c.ReplyAsync(request, 1);
            await c.ReadRequestAsync(); // FORCE_CLOSE
            await c.SendStatusAsync(0);
        });
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync("127.0.0.1", source.Port);
        await using var client = await PageServerClient.AttachAsync(socket, options: Direct);
        Assert.False(client.UsesDirectIo); // shared with the process that passed it: .NET's non-blocking I/O stays

        var buffer = new byte[PageSize];
        Assert.Equal(1, await client.GetPagesAsync(Pid, Base, 1, buffer).AsTask().WaitAsync(Bound));
        Assert.Equal(ScriptedConnection.PagesFor(Base, 1), buffer);
        await client.ForceCloseAsync().WaitAsync(Bound);
        await source.Completion.WaitAsync(Bound);
    }
}
