using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Restorer;
using LazyActors.Engine.Uffd;

namespace LazyActors.Tools.Tests.Support;

/// <summary>
/// A deliberately minimal lazy-pages handler for tests (NOT the engine): it takes CRIU's handshake on
/// <c>lazy-pages.socket</c>, records the raw bytes, and serves every fault on its epoll thread with one 4 KiB
/// UFFDIO_COPY from the images (UFFDIO_ZEROPAGE where the page was never dumped). It follows FORK, REMAP, REMOVE and
/// UNMAP events just enough to keep a forked or moved task correct. It proves the restore simulator and the native
/// layer end to end on real processes, independently of the actor engine.
/// </summary>
internal sealed unsafe class MinimalLazyPagesHandler : IDisposable
{
    private const ulong PageSize = PageGeometry.PageSize;

    private readonly Checkpoint _checkpoint;
    private readonly SafeFdHandle _listener;
    private readonly EpollReader _epoll;
    private readonly Thread _acceptThread;
    private readonly TimeSpan _timeout;
    private readonly byte* _page;
    private readonly List<(ServedTask Task, ulong Address)> _deferred = [];
    private readonly List<ServedTask> _tasks = [];
    private readonly Lock _lock = new();
    private SafeFdHandle? _connection;
    private volatile bool _disposed;

    private readonly bool _serveFaults;

    /// <summary>Listens on <c>lazy-pages.socket</c> in <paramref name="workDir"/> at once and serves <paramref name="imagesDir"/>.</summary>
    /// <param name="imagesDir">The checkpoint whose pages are served.</param>
    /// <param name="workDir">Where the socket is bound.</param>
    /// <param name="timeout">Bound of the accept and of every handshake read.</param>
    /// <param name="serveFaults">False makes a silent handler that takes the handshake but never answers a fault.</param>
    public MinimalLazyPagesHandler(string imagesDir, string workDir, TimeSpan timeout, bool serveFaults = true)
    {
        _serveFaults = serveFaults;
        _checkpoint = Checkpoint.Open(imagesDir);
        _timeout = timeout;
        _page = (byte*)NativeMemory.AlignedAlloc((nuint)PageSize, (nuint)PageSize);
        SocketPath = Path.Combine(workDir, LazyPagesHandshake.SocketName);
        _listener = UnixSocket.Listen(SocketPath);
        _epoll = new EpollReader(OnMessages, OnError, "test-handler-epoll");
        _acceptThread = new Thread(AcceptAndHandshake) { IsBackground = true, Name = "test-handler-accept" };
        _acceptThread.Start();
    }

    public string SocketPath { get; }

    /// <summary>Everything the restorer sent on the socket, byte for byte (the SCM_RIGHTS byte included).</summary>
    public List<byte> RawBytes { get; } = [];

    /// <summary>Pids in the order they arrived (negative = zombie).</summary>
    public List<int> Pids { get; } = [];

    /// <summary>For each received fd, what /proc says it is (e.g. <c>anon_inode:[userfaultfd]</c>).</summary>
    public List<string> ReceivedFdKinds { get; } = [];

    public bool FinReceived { get; private set; }

    public long PagesCopied;
    public long ZeroPages;
    public long Forks;
    public long Remaps;
    public long Removes;
    public long Unmaps;
    public long TasksGone;

    public List<string> Errors { get; } = [];

    private sealed class ServedTask(int pid, UserFaultFd uffd)
    {
        public int Pid { get; } = pid;

        public UserFaultFd Uffd { get; } = uffd;

        /// <summary>(current start, length, dump start), newest first: where moved memory came from.</summary>
        public List<(ulong Start, ulong Length, ulong Dump)> Moves { get; init; } = [];

        public bool Gone { get; set; }

        public ulong ToDump(ulong address)
        {
            foreach (var (start, length, dump) in Moves)
            {
                if (address >= start && address < start + length)
                {
                    return dump + (address - start);
                }
            }

            return address;
        }
    }

    private void AcceptAndHandshake()
    {
        try
        {
            _connection = UnixSocket.Accept(_listener, _timeout);
            Span<byte> word = stackalloc byte[4];
            for (var i = 0; i < _checkpoint.Tasks.Count; i++)
            {
                UnixSocket.ReceiveExactly(_connection, word, _timeout);
                Record(word);
                var pid = BinaryPrimitives.ReadInt32LittleEndian(word);
                lock (_lock)
                {
                    Pids.Add(pid);
                }

                if (pid <= 0)
                {
                    continue;
                }

                var fd = UnixSocket.ReceiveFd(_connection, _timeout);
                Record([0]);
                lock (_lock)
                {
                    ReceivedFdKinds.Add(DescribeFd(fd));
                }

                var task = new ServedTask(pid, UserFaultFd.FromHandle(fd));
                lock (_lock)
                {
                    _tasks.Add(task);
                }

                _epoll.Add(fd, task);
            }

            UnixSocket.ReceiveExactly(_connection, word, _timeout);
            Record(word);
            FinReceived = BinaryPrimitives.ReadUInt32LittleEndian(word) == LazyPagesHandshake.RestoreFinished;
        }
        catch (Exception ex) when (!_disposed)
        {
            lock (_lock)
            {
                Errors.Add($"handshake: {ex.Message}");
            }
        }
    }

    private void Record(ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            RawBytes.AddRange(bytes);
        }
    }

    private static string DescribeFd(SafeFdHandle fd)
    {
        var link = $"/proc/self/fd/{fd.DangerousGetHandle()}";
        try
        {
            return new FileInfo(link).LinkTarget ?? "?";
        }
        catch (IOException ex)
        {
            return $"unreadable: {ex.Message}";
        }
    }

    private void OnMessages(object token, ReadOnlySpan<UffdMsg> batch)
    {
        var task = (ServedTask)token;
        foreach (var message in batch)
        {
            switch (message.Event)
            {
                case UffdEvent.Pagefault:
                    Serve(task, message.PagefaultAddress & ~(PageSize - 1));
                    break;
                case UffdEvent.Fork:
                    var child = new ServedTask(task.Pid, UserFaultFd.FromHandle(new SafeFdHandle((int)message.ForkUfd, ownsHandle: true)))
                    {
                        Moves = [.. task.Moves],
                    };
                    lock (_lock)
                    {
                        _tasks.Add(child);
                    }

                    Interlocked.Increment(ref Forks);
                    _epoll.Add(child.Uffd.Handle, child);
                    break;
                case UffdEvent.Remap:
                    task.Moves.Insert(0, (message.RemapTo, message.RemapLength, task.ToDump(message.RemapFrom)));
                    Interlocked.Increment(ref Remaps);
                    break;
                case UffdEvent.Remove:
                    Interlocked.Increment(ref Removes);
                    try
                    {
                        task.Uffd.Unregister(message.RemoveStart, message.RemoveEnd - message.RemoveStart);
                    }
                    catch (LinuxException ex) when (ex.Errno == Errno.ENOMEM)
                    {
                        Gone(task);
                    }

                    break;
                case UffdEvent.Unmap:
                    Interlocked.Increment(ref Unmaps);
                    break;
                default:
                    Error($"pid {task.Pid}: unexpected uffd event {message}");
                    break;
            }
        }

        RetryDeferred();
    }

    private void Serve(ServedTask task, ulong address)
    {
        if (task.Gone || !_serveFaults)
        {
            return;
        }

        var dump = task.ToDump(address);
        PageReadResult read;
        try
        {
            read = _checkpoint.Pages.Read(task.Pid, dump, 1, new Span<byte>(_page, (int)PageSize));
        }
        catch (Exception ex) when (ex is PageDataUnavailableException or ImageFormatException)
        {
            Error($"pid {task.Pid}: cannot read page 0x{dump:x}: {ex.Message}");
            return;
        }

        var result = read.PagesWithData == 1
            ? task.Uffd.Copy(address, (nint)_page, PageSize)
            : task.Uffd.ZeroPage(address, PageSize);
        switch (result.Error)
        {
            case Errno.None:
                Interlocked.Increment(ref read.PagesWithData == 1 ? ref PagesCopied : ref ZeroPages);
                break;
            case Errno.EEXIST:
                break; // another thread's fault on the same page was served first
            case Errno.EAGAIN:
                _deferred.Add((task, address)); // a non-cooperative event is pending: read it, then retry
                break;
            case Errno.ESRCH or Errno.ENOSPC:
                Gone(task);
                break;
            default:
                Error($"pid {task.Pid}: UFFDIO_{(read.PagesWithData == 1 ? "COPY" : "ZEROPAGE")} at 0x{address:x} failed: {result.Error}");
                break;
        }
    }

    private void RetryDeferred()
    {
        if (_deferred.Count == 0)
        {
            return;
        }

        var again = _deferred.ToList();
        _deferred.Clear();
        foreach (var (task, address) in again)
        {
            Serve(task, address);
        }
    }

    private void Gone(ServedTask task)
    {
        task.Gone = true;
        Interlocked.Increment(ref TasksGone);
        _epoll.Remove(task.Uffd.Handle);
    }

    private void OnError(object token, Exception error)
    {
        var task = (ServedTask)token;
        if (!task.Gone && !_disposed)
        {
            // A hang-up means the task (and so its mm) is gone; it is not an error of the handler.
            task.Gone = true;
        }
    }

    private void Error(string message)
    {
        lock (_lock)
        {
            Errors.Add(message);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _epoll.Dispose();
        _listener.Dispose();
        _connection?.Dispose();
        _acceptThread.Join(TimeSpan.FromSeconds(5));
        lock (_lock)
        {
            foreach (var task in _tasks)
            {
                task.Uffd.Dispose();
            }
        }

        _checkpoint.Dispose();
        NativeMemory.AlignedFree(_page);
    }
}
