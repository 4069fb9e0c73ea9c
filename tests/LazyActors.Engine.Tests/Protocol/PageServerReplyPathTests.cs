using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Tests.Protocol.Support;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Engine.Tests.Protocol;

/// <summary>
/// How our page server puts replies on the wire: a big reply (more than the one-write size, sent with MSG_MORE on the
/// header and then sendfile) arrives whole and promptly, and the opt-in session nice value lands on the session's thread.
/// </summary>
public sealed class PageServerReplyPathTests
{
    private const int PageSize = 4096;
    private const int Pid = 310;
    private const ulong Base = 0x400000;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Big_replies_arrive_whole_and_are_not_held_back_by_the_header_sent_with_MSG_MORE()
    {
        using var dir = new ScratchDirectory();
        TestCheckpoint.Write(dir.Path, new TestCheckpoint.TaskSpec(Pid, [new(Base, 256, PageFlags.Lazy | PageFlags.Present)]));
        using var store = LazyPageStore.Open(dir.Path);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), logger: new LogCapture().Logger);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.LocalEndPoint);
        await using var stream = new NetworkStream(socket);

        // 17 pages is the smallest reply past the one-write path; 64 and 200 take several sendfile segments.
        var roundTrips = new List<double>();
        var get = new byte[32];
        foreach (int pages in new[] { 17, 64, 200, 17, 64, 200, 17, 64, 200, 17, 64, 200 })
        {
            ulong vaddr = Base + ((ulong)(roundTrips.Count % 4) * 8 * PageSize);
            PageServerIov.Get(Pid, vaddr, (ulong)pages).WriteTo(get);
            var clock = Stopwatch.StartNew();
            await stream.WriteAsync(get);
            var reply = new byte[32 + (pages * PageSize)];
            await stream.ReadExactlyAsync(reply).AsTask().WaitAsync(Bound);
            roundTrips.Add(clock.Elapsed.TotalMilliseconds);

            var header = PageServerIov.ReadFrom(reply);
            Assert.Equal((ulong)pages, header.NrPages);
            Assert.Equal(vaddr, header.Vaddr);
            for (int page = 0; page < pages; page++)
            {
                byte expected = TestCheckpoint.Fill(Pid, vaddr + ((ulong)page * PageSize));
                Assert.Equal(expected, reply[32 + (page * PageSize)]);
                Assert.Equal(expected, reply[32 + (page * PageSize) + PageSize - 1]);
            }
        }

        // A header left corked behind MSG_MORE would wait for the kernel's 200 ms timer on every reply.
        roundTrips.Sort();
        Assert.True(roundTrips[roundTrips.Count / 2] < 100, $"median round trip {roundTrips[roundTrips.Count / 2]:0.0} ms: {string.Join(", ", roundTrips.Select(t => t.ToString("0.0", CultureInfo.InvariantCulture)))}");
    }

    [Fact]
    public async Task The_session_nice_value_is_set_on_the_sessions_thread_only()
    {
        const int Nice = 7; // positive: needs no privilege
        using var dir = new ScratchDirectory();
        TestCheckpoint.Write(dir.Path, new TestCheckpoint.TaskSpec(Pid, [new(Base, 4, PageFlags.Lazy | PageFlags.Present)]));
        using var store = LazyPageStore.Open(dir.Path);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), new LazyPageServerOptions { SessionNice = Nice }, new LogCapture().Logger);
        int before = ThreadsWithNice(Nice);

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.LocalEndPoint);
        await using var stream = new NetworkStream(socket);
        var get = new byte[32];
        PageServerIov.Get(Pid, Base, 1).WriteTo(get);
        await stream.WriteAsync(get);
        var reply = new byte[32 + PageSize];
        await stream.ReadExactlyAsync(reply).AsTask().WaitAsync(Bound);

        // The reply came from the session's thread, which set its nice value before reading the first request.
        Assert.Equal(before + 1, ThreadsWithNice(Nice));
    }

    /// <summary>Threads of this process whose nice value (field 19 of /proc/self/task/TID/stat) is <paramref name="nice"/>.</summary>
    private static int ThreadsWithNice(int nice)
    {
        int count = 0;
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                string stat = File.ReadAllText(Path.Combine(task, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[16], CultureInfo.InvariantCulture) == nice)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // the thread ended meanwhile
            }
        }

        return count;
    }
}
