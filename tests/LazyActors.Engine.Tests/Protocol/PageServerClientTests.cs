using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Tests.Protocol.Support;
using Xunit;

namespace LazyActors.Engine.Tests.Protocol;

/// <summary>The client against a scripted source: pipelining, window, short replies, and every way a source can break.</summary>
public sealed class PageServerClientTests
{
    private const int PageSize = 4096;
    private const int Pid = 4242;
    private const ulong Base = 0x7f00_0000_0000;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Requests_are_pipelined_and_replies_land_in_each_callers_memory()
    {
        const int count = 16;
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var requests = await c.ReadRequestsAsync(count); // all of them before a single reply: they are in flight together
            foreach (var request in requests)
            {
                await c.ReplyAsync(request, request.NrPages);
            }

            await c.ReadRequestAsync(); // CLOSE
            await c.SendStatusAsync(0);
            Assert.True(await c.WaitForEofAsync());
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        var buffers = Enumerable.Range(0, count).Select(i => new byte[(i % 3 + 1) * PageSize]).ToArray();
        var fetches = Enumerable.Range(0, count)
            .Select(i => client.GetPagesAsync(Pid, Base + ((ulong)i << 20), i % 3 + 1, buffers[i]).AsTask())
            .ToArray();
        var got = await Task.WhenAll(fetches).WaitAsync(Bound);

        for (int i = 0; i < count; i++)
        {
            Assert.Equal(i % 3 + 1, got[i]);
            Assert.Equal(ScriptedConnection.PagesFor(Base + ((ulong)i << 20), i % 3 + 1), buffers[i]);
        }

        await client.CloseAsync().WaitAsync(Bound);
        await source.Completion.WaitAsync(Bound);
    }

    [Fact]
    public async Task The_window_bounds_requests_in_flight_and_a_reply_frees_a_place()
    {
        var fifthArrived = new TaskCompletionSource<PageServerIov>(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstFour = new TaskCompletionSource<List<PageServerIov>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var replyToFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var requests = await c.ReadRequestsAsync(4);
            firstFour.SetResult(requests);
            await replyToFirst.Task;
            await c.ReplyAsync(requests[0], 1);
            var fifth = await c.ReadRequestAsync();
            fifthArrived.SetResult(fifth);
            foreach (var request in requests.Skip(1).Append(fifth))
            {
                await c.ReplyAsync(request, 1);
            }
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port, new PageServerClientOptions { MaxInFlight = 4 });

        var fetches = Enumerable.Range(0, 5).Select(i => client.GetPagesAsync(Pid, Base + ((ulong)i * PageSize), 1, new byte[PageSize]).AsTask()).ToArray();
        await firstFour.Task.WaitAsync(Bound);
        await Task.Delay(200);
        Assert.Equal(4, client.InFlight);
        Assert.False(fifthArrived.Task.IsCompleted); // the fifth caller waits for a place
        Assert.False(fetches[4].IsCompleted);

        replyToFirst.SetResult();
        var fifth = await fifthArrived.Task.WaitAsync(Bound);
        Assert.Equal(Base + (4UL * PageSize), fifth.Vaddr);
        Assert.All(await Task.WhenAll(fetches).WaitAsync(Bound), n => Assert.Equal(1, n));
        await source.Completion.WaitAsync(Bound);
    }

    [Fact]
    public async Task With_a_low_water_mark_a_big_reply_trickling_in_and_the_small_ones_after_it_arrive_whole()
    {
        const int BigPages = 100; // 400 KiB: more than the mark, and its last part less than it
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var requests = await c.ReadRequestsAsync(3);
            await c.SendHeaderAsync(PageServerIov.PagesReply(requests[0], BigPages));
            var data = ScriptedConnection.PagesFor(requests[0].Vaddr, BigPages);
            for (int at = 0; at < data.Length; at += 20_000)
            {
                await c.SendAsync(data[at..Math.Min(at + 20_000, data.Length)]);
                await Task.Delay(5);
            }

            await c.ReplyAsync(requests[1], 1); // smaller than the mark: must not wait for more bytes
            await c.ReplyAsync(requests[2], 20); // 80 KiB: a read under the mark, and nothing after it on the wire
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port, new PageServerClientOptions { ReceiveLowWater = 128 << 10 });

        var big = new byte[BigPages * PageSize];
        var one = new byte[PageSize];
        var last = new byte[20 * PageSize];
        var fetches = new[]
        {
            client.GetPagesAsync(Pid, Base, BigPages, big).AsTask(),
            client.GetPagesAsync(Pid, Base + (1000UL * PageSize), 1, one).AsTask(),
            client.GetPagesAsync(Pid, Base + (2000UL * PageSize), 20, last).AsTask(),
        };

        var got = await Task.WhenAll(fetches).WaitAsync(Bound);
        Assert.Equal(new[] { BigPages, 1, 20 }, got);
        Assert.Equal(ScriptedConnection.PagesFor(Base, BigPages), big);
        Assert.Equal(ScriptedConnection.PagesFor(Base + (1000UL * PageSize), 1), one);
        Assert.Equal(ScriptedConnection.PagesFor(Base + (2000UL * PageSize), 20), last);
        await source.Completion.WaitAsync(Bound);
    }

    [Fact]
    public async Task A_short_reply_gives_the_caller_fewer_pages_and_GetAll_asks_again_for_the_rest()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var first = await c.ReadRequestAsync();
            await c.ReplyAsync(first, 3);
            var second = await c.ReadRequestAsync();
            await c.ReplyAsync(second, 2);
            var third = await c.ReadRequestAsync();
            await c.ReplyAsync(third, third.NrPages);
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        var buffer = new byte[8 * PageSize];
        int got = await client.GetPagesAsync(Pid, Base, 8, buffer).AsTask().WaitAsync(Bound);
        Assert.Equal(3, got);
        Assert.Equal(ScriptedConnection.PagesFor(Base, 3), buffer[..(3 * PageSize)]);

        await client.GetAllPagesAsync(Pid, Base + (3UL * PageSize), 5, buffer.AsMemory(3 * PageSize)).AsTask().WaitAsync(Bound);
        Assert.Equal(ScriptedConnection.PagesFor(Base, 8), buffer);
        await source.Completion.WaitAsync(Bound);
    }

    [Theory]
    [InlineData("vaddr")]
    [InlineData("dst_id")]
    public async Task A_reply_for_another_request_is_an_out_of_order_error_failing_every_pending_request(string wrong)
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var requests = await c.ReadRequestsAsync(3);
            var reply = PageServerIov.PagesReply(requests[0], 1);
            reply = wrong == "vaddr" ? reply with { Vaddr = requests[1].Vaddr } : reply with { DstId = 1 };
            await c.SendHeaderAsync(reply);
            await c.SendAsync(new byte[PageSize]);
            await c.StallAsync();
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        var fetches = Enumerable.Range(0, 3).Select(i => client.GetPagesAsync(Pid, Base + ((ulong)i * PageSize), 1, new byte[PageSize]).AsTask()).ToArray();

        var errors = await AllFailAsync(fetches);
        Assert.All(errors, e => Assert.Contains("out of order reply", e.Message));
        Assert.All(errors, e => Assert.Contains($"127.0.0.1:{source.Port}", e.Message));
        Assert.Equal(Enumerable.Range(0, 3).Select(i => (ulong?)(Base + ((ulong)i * PageSize))), errors.Select(e => e.Request?.Vaddr));
        var later = await Assert.ThrowsAsync<PageServerException>(() => client.GetPagesAsync(Pid, Base, 1, new byte[PageSize]).AsTask());
        Assert.Contains("out of order reply", later.Message);
        Assert.True(client.IsFaulted);
    }

    [Theory]
    [InlineData(0UL, "nr_pages 0")]
    [InlineData(5UL, "nr_pages 5")]
    public async Task A_reply_with_zero_or_too_many_pages_fails_the_connection(ulong replyPages, string expected)
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var request = await c.ReadRequestAsync();
            await c.SendHeaderAsync(PageServerIov.PagesReply(request, replyPages));
            await c.StallAsync();
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        var error = await Assert.ThrowsAsync<PageServerException>(() => client.GetPagesAsync(Pid, Base, 4, new byte[4 * PageSize]).AsTask().WaitAsync(Bound));
        Assert.Contains(expected, error.Message);
        Assert.Equal(new PageServerRequest(Pid, Base, 4), error.Request);
    }

    [Fact]
    public async Task A_reply_that_is_not_ADD_F_with_PE_PRESENT_is_malformed()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var request = await c.ReadRequestAsync();
            await c.SendHeaderAsync(PageServerIov.PagesReply(request, 1) with { Command = 0x00020006 }); // ADD_F | PE_LAZY: no data
            await c.StallAsync();
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        var error = await Assert.ThrowsAsync<PageServerException>(() => client.GetPagesAsync(Pid, Base, 1, new byte[PageSize]).AsTask().WaitAsync(Bound));
        Assert.Contains("malformed reply", error.Message);
        Assert.Contains("0x00020006", error.Message);
    }

    [Fact]
    public async Task EOF_in_the_middle_of_a_header_fails_every_pending_request()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var requests = await c.ReadRequestsAsync(2);
            var header = new byte[PageServerIov.Size];
            PageServerIov.PagesReply(requests[0], 1).WriteTo(header);
            await c.SendAsync(header[..12]);
            c.Close();
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        var fetches = Enumerable.Range(0, 2).Select(i => client.GetPagesAsync(Pid, Base + ((ulong)i * PageSize), 1, new byte[PageSize]).AsTask()).ToArray();

        var errors = await AllFailAsync(fetches);
        Assert.All(errors, e => Assert.Contains("connection closed by the peer after 12 of 32 bytes of the reply header", e.Message));
        Assert.All(errors, e => Assert.Contains("2 requests were in flight", e.Message));
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
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        var error = await Assert.ThrowsAsync<PageServerException>(() => client.GetPagesAsync(Pid, Base, 2, new byte[2 * PageSize]).AsTask().WaitAsync(Bound));
        Assert.Contains("after 5000 of 8192 bytes of the 2 page(s) of the reply", error.Message);
        Assert.Equal(new PageServerRequest(Pid, Base, 2), error.Request);
    }

    [Fact]
    public async Task A_stalled_peer_fails_after_the_reply_deadline()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            await c.ReadRequestsAsync(3);
            await c.StallAsync();
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port, new PageServerClientOptions { ReplyTimeout = TimeSpan.FromMilliseconds(300) });

        var clock = Stopwatch.StartNew();
        var fetches = Enumerable.Range(0, 3).Select(i => client.GetPagesAsync(Pid, Base + ((ulong)i * PageSize), 1, new byte[PageSize]).AsTask()).ToArray();
        var errors = await AllFailAsync(fetches);

        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        Assert.All(errors, e => Assert.Contains("no reply within 0.3 s (stalled peer)", e.Message));
        Assert.All(errors, e => Assert.Contains("3 requests were in flight", e.Message));
    }

    [Fact]
    public async Task A_reset_fails_every_pending_request()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            await c.ReadRequestsAsync(2);
            c.Reset();
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        var fetches = Enumerable.Range(0, 2).Select(i => client.GetPagesAsync(Pid, Base + ((ulong)i * PageSize), 1, new byte[PageSize]).AsTask()).ToArray();
        var errors = await AllFailAsync(fetches);

        Assert.All(errors, e => Assert.Contains("ConnectionReset", e.Message));
        Assert.All(errors, e => Assert.Contains($"127.0.0.1:{source.Port}", e.Message));
    }

    [Fact]
    public async Task Close_sends_PS_IOV_CLOSE_after_the_pending_requests_and_reads_status_zero()
    {
        var closeBytes = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var get = await c.ReadRequestAsync();
            await c.ReadRequestAsync();
            closeBytes.SetResult(c.RawRequests[1]);
            await c.ReplyAsync(get, 1);
            await c.SendStatusAsync(0);
            Assert.True(await c.WaitForEofAsync());
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        var buffer = new byte[PageSize];
        var fetch = client.GetPagesAsync(Pid, Base, 1, buffer).AsTask();
        await client.CloseAsync().WaitAsync(Bound);

        Assert.Equal(1, await fetch);
        Assert.Equal("2310" + new string('0', 60), Convert.ToHexString(await closeBytes.Task).ToLowerInvariant());
        await source.Completion.WaitAsync(Bound);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetPagesAsync(Pid, Base, 1, buffer).AsTask());
    }

    [Fact]
    public async Task Force_close_sends_PS_IOV_FORCE_CLOSE()
    {
        var command = new TaskCompletionSource<PageServerIov>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var source = ScriptedPageSource.Start(async c =>
        {
            command.SetResult(await c.ReadRequestAsync());
            await c.SendStatusAsync(0);
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        await client.ForceCloseAsync().WaitAsync(Bound);

        Assert.Equal(0x1024u, (await command.Task).Command);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_non_zero_close_status_or_EOF_instead_of_it_is_an_error(bool sendStatus)
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            await c.ReadRequestAsync();
            if (sendStatus)
            {
                await c.SendStatusAsync(-5);
            }

            c.Close();
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        var error = await Assert.ThrowsAsync<PageServerException>(() => client.CloseAsync().WaitAsync(Bound));

        Assert.Contains(sendStatus ? "PS_IOV_CLOSE answered with status -5" : "after 0 of 4 bytes of the status answering PS_IOV_CLOSE", error.Message);
    }

    [Fact]
    public async Task No_request_is_ever_sent_for_zero_pages()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var request = await c.ReadRequestAsync();
            await c.ReplyAsync(request, 1);
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetPagesAsync(Pid, Base, 0, new byte[PageSize]).AsTask());
        Assert.Equal(1, await client.GetPagesAsync(Pid, Base + PageSize, 1, new byte[PageSize]).AsTask().WaitAsync(Bound));

        await source.Completion.WaitAsync(Bound);
    }

    [Fact]
    public async Task A_cancelled_request_has_its_reply_dropped_and_the_connection_goes_on()
    {
        var replyNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var first = await c.ReadRequestAsync();
            await replyNow.Task;
            await c.ReplyAsync(first, 1);
            var second = await c.ReadRequestAsync();
            await c.ReplyAsync(second, 1);
        });
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);
        var abandoned = new byte[PageSize];
        using var cancel = new CancellationTokenSource();

        var first = client.GetPagesAsync(Pid, Base, 1, abandoned, cancel.Token).AsTask();
        await Task.Delay(100);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first.WaitAsync(Bound));
        replyNow.SetResult();

        var buffer = new byte[PageSize];
        Assert.Equal(1, await client.GetPagesAsync(Pid, Base + PageSize, 1, buffer).AsTask().WaitAsync(Bound));
        Assert.Equal(ScriptedConnection.PagesFor(Base + PageSize, 1), buffer);
        Assert.All(abandoned, b => Assert.Equal(0, b)); // the abandoned memory was never written
    }

    [Fact]
    public async Task Disposing_fails_pending_requests_with_the_one_exception_type()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            await c.ReadRequestAsync();
            await c.StallAsync();
        });
        var client = await PageServerClient.ConnectAsync("127.0.0.1", source.Port);
        var fetch = client.GetPagesAsync(Pid, Base, 1, new byte[PageSize]).AsTask();
        await Task.Delay(50);

        await client.DisposeAsync().AsTask().WaitAsync(Bound);

        var error = await Assert.ThrowsAsync<PageServerException>(() => fetch.WaitAsync(Bound));
        Assert.Contains("connection dropped by this client", error.Message);
    }

    [Fact]
    public async Task Connect_resolves_names_and_a_refused_port_names_the_peer()
    {
        await using var source = ScriptedPageSource.Start(async c =>
        {
            var request = await c.ReadRequestAsync();
            await c.ReplyAsync(request, 1);
        });
        await using (var client = await PageServerClient.ConnectAsync("localhost", source.Port))
        {
            Assert.StartsWith($"localhost:{source.Port} [", client.Peer);
            Assert.Equal(1, await client.GetPagesAsync(Pid, Base, 1, new byte[PageSize]).AsTask().WaitAsync(Bound));
        }

        int closedPort = FreePort();
        var error = await Assert.ThrowsAsync<PageServerException>(() => PageServerClient.ConnectAsync("127.0.0.1", closedPort));
        Assert.Contains($"127.0.0.1:{closedPort}", error.Message);
        Assert.Contains("cannot connect", error.Message);
    }

    [SkippableFact]
    public async Task Connect_speaks_IPv6()
    {
        Skip.IfNot(Socket.OSSupportsIPv6 && HasLoopbackV6(), "no IPv6 loopback on this machine");
        using var listener = new TcpListener(IPAddress.IPv6Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accept = listener.AcceptSocketAsync();

        await using var client = await PageServerClient.ConnectAsync("::1", port);
        using var server = await accept.WaitAsync(Bound);

        Assert.Equal($"[::1]:{port}", client.Peer);
    }

    private static async Task<PageServerException[]> AllFailAsync(IEnumerable<Task<int>> fetches)
    {
        var errors = new List<PageServerException>();
        foreach (var fetch in fetches)
        {
            errors.Add(await Assert.ThrowsAsync<PageServerException>(() => fetch.WaitAsync(Bound)));
        }

        return [.. errors];
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static bool HasLoopbackV6()
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
