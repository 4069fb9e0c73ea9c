using System.Buffers.Binary;
using System.Collections.Concurrent;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using Xunit;

namespace LazyActors.Engine.Tests.Restorer;

public sealed class RestorerConnectionTests : IDisposable
{
    private readonly ScratchDirectory _dir = new("rc");
    private readonly Observer _observer = new();

    public void Dispose() => _dir.Dispose();

    private string SocketPath => Path.Combine(_dir.Path, LazyPagesHandshake.SocketName);

    private Thread Start(int entries, TimeSpan? acceptTimeout = null, TimeSpan? readTimeout = null, CancellationToken cancel = default)
    {
        var listener = UnixSocket.Listen(SocketPath);
        var thread = new Thread(() => RestorerConnection.Run(listener, entries, acceptTimeout, readTimeout ?? TimeSpan.FromSeconds(5), _observer, cancel));
        thread.Start();
        return thread;
    }

    private static void Send(SafeFdHandle socket, int value)
    {
        var word = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(word, value);
        UnixSocket.SendExactly(socket, word);
    }

    [Fact]
    public void Reads_tasks_zombies_and_the_finish_word_in_order()
    {
        var thread = Start(3);
        using (var socket = UnixSocket.Connect(SocketPath))
        {
            Send(socket, 10);
            var (read, write) = ReadinessSignal.CreateInheritablePipe();
            UnixSocket.SendFd(socket, read);
            read.Dispose();
            ReadinessSignal.Close(write);
            Send(socket, -11);
            Send(socket, 12);
            (read, write) = ReadinessSignal.CreateInheritablePipe();
            UnixSocket.SendFd(socket, read);
            read.Dispose();
            ReadinessSignal.Close(write);
            Send(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
        }

        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal(["connected", "task 10", "zombie 11", "task 12", "finished"], _observer.Log);
        Assert.Equal(Environment.ProcessId, _observer.RestorerPid); // SO_PEERCRED: the connecting process
    }

    [Fact]
    public void A_pid_without_its_descriptor_is_fatal()
    {
        var thread = Start(1);
        using (var socket = UnixSocket.Connect(SocketPath))
        {
            Send(socket, 10);
            UnixSocket.SendExactly(socket, [0]); // the dummy byte without SCM_RIGHTS
            Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        }

        Assert.StartsWith("failed recv_fd error for pid 10", _observer.Log[^1]);
    }

    [Fact]
    public void Pid_zero_is_fatal()
    {
        var thread = Start(1);
        using (var socket = UnixSocket.Connect(SocketPath))
        {
            Send(socket, 0);
            Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        }

        Assert.Equal("failed PID recv: pid 0 in entry 1 of 1", _observer.Log[^1]);
    }

    [Fact]
    public void Waiting_is_bounded_by_the_timeouts()
    {
        var thread = Start(1, acceptTimeout: TimeSpan.FromMilliseconds(300));
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Assert.Contains("nobody connected", Assert.Single(_observer.Log));

        _observer.Log.Clear();
        thread = Start(1, readTimeout: TimeSpan.FromMilliseconds(300));
        using var socket = UnixSocket.Connect(SocketPath);
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Assert.Contains("nothing arrived within", _observer.Log[^1]);
    }

    /// <summary>A restorer that restored fewer tasks than pstree.img holds sends "restore finished" where a pid belongs.</summary>
    [Fact]
    public void The_finish_word_in_place_of_a_pid_names_the_entries_missing()
    {
        var thread = Start(3);
        using (var socket = UnixSocket.Connect(SocketPath))
        {
            Send(socket, -10);
            Send(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
            Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        }

        Assert.Equal("zombie 10", _observer.Log[1]);
        Assert.Contains("\"restore finished\" after 1 of the 3 pstree entries", _observer.Log[^1]);
    }

    /// <summary>Another lazy-pages checking whether this one listens connects and closes: the real restorer still gets in.</summary>
    [Fact]
    public void A_peer_that_closes_without_a_word_is_let_go_and_the_restorer_still_connects()
    {
        var thread = Start(1, acceptTimeout: TimeSpan.FromSeconds(10));
        UnixSocket.Connect(SocketPath).Dispose();
        using (var socket = UnixSocket.Connect(SocketPath))
        {
            Send(socket, -7);
            Send(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
            Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        }

        Assert.Equal(["connected", "zombie 7", "finished"], _observer.Log);
        Assert.Contains("closed without a word", Assert.Single(_observer.Notes));
    }

    /// <summary>
    /// A process of another user that reaches the socket (here made world-writable on purpose) is refused by its
    /// SO_PEERCRED uid and logged; it cannot end the restore with a zombie and "restore finished". The restorer of our
    /// own uid is then served. A uid on the allow-list is let in.
    /// </summary>
    [SkippableFact]
    public async Task A_peer_of_another_uid_is_refused_unless_allowed()
    {
        Skip.IfNot(Libc.GetEuid() == 0, "needs root to run a peer as another user");
        Skip.IfNot(File.Exists("/usr/bin/setpriv"), "needs setpriv (util-linux) to run a peer as another user");
        Skip.IfNot(File.Exists(UffdHolder.ExpectedPath), $"{UffdHolder.ExpectedPath} was not built");
        string[] nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

        var listener = UnixSocket.Listen(SocketPath, mode: 0x1B6);
        var thread = new Thread(() => RestorerConnection.Run(listener, 1, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(5), [], _observer, default));
        thread.Start();
        using (await UffdHolder.StartAsync(SocketPath, 0, UffdHolderMode.Peer, TimeSpan.FromSeconds(10), nobody))
        {
            Assert.True(SpinWait.SpinUntil(() => _observer.Refusals.Count > 0, TimeSpan.FromSeconds(10)));
        }

        Assert.Contains("uid 65534", Assert.Single(_observer.Refusals));
        Assert.Empty(_observer.Log);
        using (var socket = UnixSocket.Connect(SocketPath))
        {
            Send(socket, -7);
            Send(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
            Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        }

        Assert.Equal(["connected", "zombie 7", "finished"], _observer.Log);

        _observer.Log.Clear();
        listener = UnixSocket.Listen(SocketPath, mode: 0x1B6);
        thread = new Thread(() => RestorerConnection.Run(listener, 1, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(5), [65534u], _observer, default));
        thread.Start();
        using (await UffdHolder.StartAsync(SocketPath, 0, UffdHolderMode.Peer, TimeSpan.FromSeconds(10), nobody))
        {
            Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        }

        Assert.Equal("connected", _observer.Log[0]);
        Assert.Single(_observer.Refusals);
    }

    [Fact]
    public void Cancellation_stops_the_wait_silently()
    {
        using var cancel = new CancellationTokenSource();
        var thread = Start(1, cancel: cancel.Token);
        Thread.Sleep(100);
        cancel.Cancel();
        Assert.True(thread.Join(TimeSpan.FromSeconds(5)));
        Assert.Empty(_observer.Log);
    }

    /// <summary>
    /// With an exit watch the handshake reports the restorer's hang-up after "restore finished" (CRIU closes the socket
    /// when `criu restore` exits), not before: the close comes 300 ms after the finish word here.
    /// </summary>
    [Fact]
    public void The_restorer_closing_after_the_finish_word_is_reported_when_it_closes()
    {
        _observer.ExitWatch = TimeSpan.FromSeconds(5);
        var thread = Start(1);
        var socket = UnixSocket.Connect(SocketPath);
        long finishedSent;
        try
        {
            Send(socket, -10);
            Send(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
            finishedSent = System.Diagnostics.Stopwatch.GetTimestamp();
            Thread.Sleep(300);
            Assert.DoesNotContain(_observer.Log.ToArray(), l => l.StartsWith("gone", StringComparison.Ordinal));
        }
        finally
        {
            socket.Dispose();
        }

        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal(["connected", "zombie 10", "finished", "gone closed"], _observer.Log);
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(finishedSent, _observer.GoneAt) >= TimeSpan.FromMilliseconds(290),
            "the hang-up was reported before the restorer closed");
    }

    /// <summary>A restorer that keeps the socket open is waited for only as long as the watch says.</summary>
    [Fact]
    public void A_restorer_that_keeps_the_socket_open_is_reported_once_the_watch_is_over()
    {
        _observer.ExitWatch = TimeSpan.FromMilliseconds(200);
        var thread = Start(1);
        using var socket = UnixSocket.Connect(SocketPath);
        Send(socket, -10);
        Send(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal(["connected", "zombie 10", "finished", "gone open"], _observer.Log);
    }

    /// <summary>Without an exit watch (the default) the handshake ends right after the finish word, as before.</summary>
    [Fact]
    public void Without_an_exit_watch_the_handshake_ends_at_the_finish_word()
    {
        var thread = Start(1);
        using var socket = UnixSocket.Connect(SocketPath);
        Send(socket, -10);
        Send(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal(["connected", "zombie 10", "finished"], _observer.Log);
    }

    private sealed class Observer : IRestorerObserver
    {
        public List<string> Log { get; } = [];

        public TimeSpan ExitWatch { get; set; }

        public long GoneAt { get; private set; }

        TimeSpan IRestorerObserver.RestorerExitWatch => ExitWatch;

        public void RestorerGone(bool closed)
        {
            GoneAt = System.Diagnostics.Stopwatch.GetTimestamp();
            Log.Add(closed ? "gone closed" : "gone open");
        }

        private readonly ConcurrentBag<SafeFdHandle> _fds = [];

        public int RestorerPid { get; private set; }

        public void Connected(int restorerPid)
        {
            RestorerPid = restorerPid;
            Log.Add("connected");
        }

        public void TaskUffd(int pid, SafeFdHandle uffd)
        {
            _fds.Add(uffd);
            uffd.Dispose();
            Log.Add($"task {pid}");
        }

        public void Zombie(int pid) => Log.Add($"zombie {pid}");

        public void RestoreFinished() => Log.Add("finished");

        public void Failed(string reason) => Log.Add($"failed {reason}");

        public ConcurrentQueue<string> Refusals { get; } = new();

        public List<string> Notes { get; } = [];

        public void PeerRefused(string reason) => Refusals.Enqueue(reason);

        public void PeerClosedSilently(string note) => Notes.Add(note);
    }
}
