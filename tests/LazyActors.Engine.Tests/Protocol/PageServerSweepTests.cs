using System.Net;
using System.Net.Sockets;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Tests.Protocol.Support;
using LazyActors.Testing;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Engine.Tests.Protocol;

/// <summary>
/// Bad input sweep of the page-server protocol (issue 12): random and half-valid byte streams against our page server
/// and, from a fake server, against our client. Every stream ends its session (server) or its request (client) in
/// bounded time with a one-line error, and the server keeps serving well-behaved clients afterwards.
/// </summary>
public sealed class PageServerSweepTests(ITestOutputHelper output)
{
    private const int PageSize = 4096;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Random_streams_end_their_session_in_bounded_time_and_the_server_keeps_serving()
    {
        using var dir = new ScratchDirectory();
        TestCheckpoint.Write(dir.Path, new TestCheckpoint.TaskSpec(300, [new(0x20000, 4, PageFlags.Lazy | PageFlags.Present)]));
        using var store = LazyPageStore.Open(dir.Path);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0),
            new LazyPageServerOptions { IdleTimeout = TimeSpan.FromSeconds(2) }, new LogCapture().Logger);
        var ended = LazyPageServerTests.EndedSessions(server);
        var random = new Random(SweepScale.Seed);
        var cases = SweepScale.Count(40, 2000);
        var ends = new Dictionary<PageServerSessionEnd, int>();
        for (int i = 0; i < cases; i++)
        {
            var stream = RandomStream(random);
            using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                await socket.ConnectAsync(server.LocalEndPoint);
                try
                {
                    await socket.SendAsync(stream).WaitAsync(Bound);
                    socket.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                    // the server already refused the stream and closed
                }

                var result = await ended.NextAsync(Bound);
                ends[result.End] = ends.GetValueOrDefault(result.End) + 1;
                Assert.False(result.Error?.Contains('\n', StringComparison.Ordinal) ?? false, $"case {i}: {result.Error}");
            }
        }

        output.WriteLine(string.Join(", ", ends.Select(e => $"{e.Key} {e.Value}")));
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", server.LocalEndPoint.Port);
        Assert.Equal(4, await client.GetPagesAsync(300, 0x20000, 4, new byte[4 * PageSize]).AsTask().WaitAsync(Bound));
        await client.CloseAsync().WaitAsync(Bound);
        Assert.Equal(PageServerSessionEnd.Closed, (await ended.NextAsync(Bound)).End);
    }

    [Fact]
    public async Task Random_replies_fail_the_client_request_in_bounded_time_with_a_page_server_error()
    {
        var random = new Random(SweepScale.Seed + 1);
        var cases = SweepScale.Count(30, 1000);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(4);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        int failed = 0;
        for (int i = 0; i < cases; i++)
        {
            var reply = RandomStream(random);
            var accept = listener.AcceptAsync();
            await using var client = await PageServerClient.ConnectAsync("127.0.0.1", port).WaitAsync(Bound);
            using var peer = await accept.WaitAsync(Bound);
            var request = new byte[PageServerIov.Size];
            var get = client.GetPagesAsync(300, 0x20000, 1, new byte[PageSize]).AsTask();
            Assert.Equal(PageServerIov.Size, await peer.ReceiveAsync(request).WaitAsync(Bound));
            if (random.Next(2) == 0)
            {
                // a reply that echoes the request, so a client gets past its header check to the data
                var valid = new byte[PageServerIov.Size];
                PageServerIov.PagesReply(PageServerIov.ReadFrom(request), 1).WriteTo(valid);
                reply = [.. valid, .. reply];
            }

            try
            {
                await peer.SendAsync(reply).WaitAsync(Bound);
            }
            catch (SocketException)
            {
                // the client already gave up on the stream
            }

            peer.Shutdown(SocketShutdown.Both);
            try
            {
                await get.WaitAsync(Bound);
            }
            catch (PageServerException ex)
            {
                Assert.DoesNotContain("\n", ex.Message);
                failed++;
            }
        }

        output.WriteLine($"{cases} replies: {failed} failed with a PageServerException, the rest were valid");
        Assert.True(failed > 0);
    }

    /// <summary>Random bytes, or a 32-byte header with random fields (often a known command) and random bytes after it.</summary>
    private static byte[] RandomStream(Random random)
    {
        var tail = new byte[random.Next(0, 96)];
        random.NextBytes(tail);
        if (random.Next(3) == 0)
        {
            return tail;
        }

        var header = new byte[PageServerIov.Size];
        random.NextBytes(header);
        var command = (uint)random.Next(0, 10) | ((uint)random.Next(0, 4) << PageServerIov.CommandBits);
        BitConverter.TryWriteBytes(header.AsSpan(0, 4), command);
        if (random.Next(2) == 0)
        {
            BitConverter.TryWriteBytes(header.AsSpan(8, 8), (ulong)random.Next(0, 8));
        }

        return [.. header, .. tail];
    }
}
