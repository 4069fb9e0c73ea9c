using System.Buffers.Binary;
using System.Collections.Concurrent;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;
using LazyActors.Testing;
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

    private sealed class Observer : IRestorerObserver
    {
        public List<string> Log { get; } = [];

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
    }
}
