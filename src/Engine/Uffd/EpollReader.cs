using System.Runtime.InteropServices;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Scheduling;

namespace LazyActors.Engine.Uffd;

/// <summary>
/// One dedicated background thread that waits (epoll) on many userfaultfds and hands each batch of
/// <see cref="UffdMsg"/> to a callback, tagged with the token given at <see cref="Add(SafeFdHandle, object)"/>. It copies no pages and
/// makes no decisions. A read error or hang-up on one fd is reported for that token through <c>onError</c> and the
/// fd is removed; the others keep being served. A failure of the loop itself is reported with the reader as the
/// token, after which the loop stops.
/// </summary>
public sealed class EpollReader : IDisposable
{
    /// <summary>Messages read per read(2) call.</summary>
    public const int BatchSize = 16;

    private const int MaxEvents = 32;
    private const ulong WakeUpId = 0;
    private static readonly TimeSpan JoinTimeout = TimeSpan.FromSeconds(2);
    private const int PollIntervalMs = 1000;

    private readonly Action<object, ReadOnlySpan<UffdMsg>> _onMessages;
    private readonly Action<object, Exception> _onError;
    private readonly UffdScheduling _scheduling;
    private readonly SafeFdHandle _epoll;
    private readonly SafeFdHandle _wakeUp;
    private readonly Thread _thread;
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, Registration> _byId = [];
    private readonly Dictionary<SafeFdHandle, ulong> _idByHandle = new(ReferenceEqualityComparer.Instance);
    private ulong _nextId = WakeUpId + 1;
    private volatile bool _stopping;
    private bool _disposed;

    /// <summary>Creates the epoll set and the wake-up eventfd and starts the thread.</summary>
    /// <param name="onMessages">Called on the reader thread with each non-empty batch (valid only during the call).</param>
    /// <param name="onError">Called on the reader thread when an fd fails or hangs up (it is then removed).</param>
    /// <param name="name">Thread name.</param>
    /// <param name="scheduling">How the thread asks to be scheduled (default: leave it as created); only the reader fields apply.</param>
    public EpollReader(
        Action<object, ReadOnlySpan<UffdMsg>> onMessages,
        Action<object, Exception> onError,
        string name = "uffd-epoll",
        UffdScheduling? scheduling = null)
    {
        ArgumentNullException.ThrowIfNull(onMessages);
        ArgumentNullException.ThrowIfNull(onError);
        _onMessages = onMessages;
        _onError = onError;
        _scheduling = scheduling ?? UffdScheduling.Unchanged;

        SafeFdHandle? epoll = null;
        SafeFdHandle? wakeUp = null;
        try
        {
            var epfd = Libc.EpollCreate1(Libc.EPOLL_CLOEXEC);
            if (epfd < 0)
            {
                LinuxException.ThrowLast("epoll_create1");
            }

            epoll = new SafeFdHandle(epfd, ownsHandle: true);
            var efd = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
            if (efd < 0)
            {
                LinuxException.ThrowLast("eventfd");
            }

            wakeUp = new SafeFdHandle(efd, ownsHandle: true);
            EpollAdd(epoll, wakeUp, WakeUpId, "eventfd");
            _epoll = epoll;
            _wakeUp = wakeUp;
            _thread = new Thread(Loop) { IsBackground = true, Name = name };
            _thread.Start();
        }
        catch
        {
            wakeUp?.Dispose();
            epoll?.Dispose();
            throw;
        }
    }

    /// <summary>Number of fds currently watched (the wake-up eventfd not counted).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _byId.Count;
            }
        }
    }

    /// <summary>True while the reader thread runs.</summary>
    public bool IsRunning => _thread.IsAlive;

    /// <summary>
    /// Starts watching <paramref name="fd"/> for readability; batches are reported with <paramref name="token"/>.
    /// The reader keeps a reference on the handle until <see cref="Remove"/> (or an error) so the descriptor number
    /// stays valid while registered. Thread-safe.
    /// </summary>
    public void Add(SafeFdHandle fd, object token) => Add(fd, token, null);

    /// <summary>
    /// Like <see cref="Add(SafeFdHandle, object)"/>, and every read(2) of <paramref name="fd"/> plus its callback runs
    /// inside the gate of <paramref name="readGate"/>, where the owner also runs its UFFDIO_COPY calls
    /// (<see cref="UffdEventBarrier.EnterCopy()"/>), so that a copy never starts between the read of a non-cooperative
    /// event (which lets the kernel go on with the madvise/mremap/munmap/fork) and the moment the callback has recorded
    /// it. The reader thread never waits for that gate: when a copier holds it, the copier performs the read as it
    /// leaves (<see cref="UffdEventBarrier.RequestRead"/>). Such an fd is watched one-shot and re-armed after each read.
    /// </summary>
    public void Add(SafeFdHandle fd, object token, UffdEventBarrier? readGate)
    {
        ArgumentNullException.ThrowIfNull(fd);
        ArgumentNullException.ThrowIfNull(token);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_idByHandle.ContainsKey(fd))
            {
                throw new InvalidOperationException($"{fd} is already watched by this epoll reader.");
            }

            var added = false;
            fd.DangerousAddRef(ref added);
            try
            {
                var id = _nextId++;
                EpollAdd(_epoll, fd, id, $"{fd} for {token}", oneShot: readGate is not null);
                _byId.Add(id, new Registration(fd, token, readGate));
                _idByHandle.Add(fd, id);
                readGate?.AttachReader(() => ServeGated(id));
            }
            catch
            {
                fd.DangerousRelease();
                throw;
            }
        }
    }

    /// <summary>Stops watching <paramref name="fd"/>. Returns false when it was not watched. Thread-safe.</summary>
    public bool Remove(SafeFdHandle fd)
    {
        ArgumentNullException.ThrowIfNull(fd);
        lock (_lock)
        {
            if (!_idByHandle.Remove(fd, out var id))
            {
                return false;
            }

            var registration = _byId[id];
            _byId.Remove(id);
            Unregister(registration);
            return true;
        }
    }

    /// <summary>Stops the thread (eventfd wake-up, then Join with a 2 s timeout) and releases all watched handles.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _stopping = true;
        SignalWakeUp();
        var joined = Thread.CurrentThread == _thread || _thread.Join(JoinTimeout);

        lock (_lock)
        {
            foreach (var registration in _byId.Values)
            {
                Unregister(registration);
            }

            _byId.Clear();
            _idByHandle.Clear();
        }

        if (joined)
        {
            _wakeUp.Dispose();
            _epoll.Dispose();
        }
    }

    private static unsafe void EpollAdd(SafeFdHandle epoll, SafeFdHandle fd, ulong id, string what, bool oneShot = false)
    {
        var ev = new EpollEvent { Events = EpollFlags.EPOLLIN | (oneShot ? EpollFlags.EPOLLONESHOT : 0), Data = id };
        if (Libc.EpollCtl(epoll, Libc.EPOLL_CTL_ADD, fd, &ev) < 0)
        {
            LinuxException.ThrowLast($"epoll_ctl(ADD {what})");
        }
    }

    /// <summary>Re-arms a one-shot registration after its read (under the registry lock, so never for a removed fd).</summary>
    private unsafe void Rearm(ulong id)
    {
        lock (_lock)
        {
            if (!_byId.TryGetValue(id, out var registration) || _epoll.IsClosed)
            {
                return;
            }

            var ev = new EpollEvent { Events = EpollFlags.EPOLLIN | EpollFlags.EPOLLONESHOT, Data = id };
            if (Libc.EpollCtl(_epoll, Libc.EPOLL_CTL_MOD, registration.Handle, &ev) < 0)
            {
                LinuxException.ThrowLast($"epoll_ctl(MOD {registration.Handle} for {registration.Token})");
            }
        }
    }

    /// <summary>
    /// The read action of a gated registration: runs inside its gate, on the reader thread or on a copier leaving the
    /// gate. Reads one batch, reports it, re-arms; a failure is reported for the token and the fd removed.
    /// </summary>
    private unsafe void ServeGated(ulong id)
    {
        Registration registration;
        lock (_lock)
        {
            if (_stopping || !_byId.TryGetValue(id, out registration))
            {
                return;
            }
        }

        var added = false;
        try
        {
            registration.Handle.DangerousAddRef(ref added);
            Span<byte> bytes = stackalloc byte[UffdMsg.Size * BatchSize];
            ReadAndReport(registration, MemoryMarshal.Cast<byte, UffdMsg>(bytes));
            Rearm(id);
        }
        catch (ObjectDisposedException)
        {
            // Removed and closed while the request was pending: nothing left to read.
        }
        catch (Exception ex)
        {
            RemoveById(id);
            ReportError(registration.Token, ex);
        }
        finally
        {
            if (added)
            {
                registration.Handle.DangerousRelease();
            }
        }
    }

    private unsafe void Unregister(Registration registration)
    {
        registration.ReadGate?.DetachReader();
        // The fd is still open (we hold a reference), so DEL cannot hit a reused number. Failure here only means the
        // kernel already dropped it; nothing to do about it.
        if (!_epoll.IsClosed)
        {
            _ = Libc.EpollCtl(_epoll, Libc.EPOLL_CTL_DEL, registration.Handle, null);
        }

        registration.Handle.DangerousRelease();
    }

    private unsafe void SignalWakeUp()
    {
        ulong one = 1;
        _ = Libc.Write(_wakeUp, &one, sizeof(ulong));
    }

    private unsafe void DrainWakeUp()
    {
        ulong value;
        _ = Libc.Read(_wakeUp, &value, sizeof(ulong));
    }

    private unsafe void Loop()
    {
        // Faults are read on this thread: let it run ahead of busy copiers and tasks (best effort; needs CAP_SYS_NICE).
        if (!(_scheduling.ReaderRealtime && ThreadScheduling.TrySetRealtime(1)) && _scheduling.ReaderNice != int.MinValue)
        {
            _ = ThreadScheduling.TrySetNice(_scheduling.ReaderNice);
        }

        Span<EpollEvent> events = stackalloc EpollEvent[MaxEvents];
        Span<byte> batchBytes = stackalloc byte[UffdMsg.Size * BatchSize];
        var batch = MemoryMarshal.Cast<byte, UffdMsg>(batchBytes);
        try
        {
            while (!_stopping)
            {
                int n;
                fixed (EpollEvent* ev = events)
                {
                    n = Libc.EpollWait(_epoll, ev, MaxEvents, PollIntervalMs);
                }

                if (n < 0)
                {
                    var errno = LinuxException.LastErrno();
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    throw new LinuxException(errno, "epoll_wait");
                }

                for (var i = 0; i < n && !_stopping; i++)
                {
                    if (events[i].Data == WakeUpId)
                    {
                        DrainWakeUp();
                        continue;
                    }

                    Serve(events[i].Data, events[i].Events, batch);
                }
            }
        }
        catch (Exception ex)
        {
            // While stopping, a failure only means Dispose raced with the last epoll_wait.
            if (!_stopping)
            {
                ReportError(this, new IOException($"The epoll reader thread '{_thread.Name}' failed and stopped: {ex.Message}", ex));
            }
        }
    }

    private void Serve(ulong id, EpollFlags flags, Span<UffdMsg> batch)
    {
        Registration registration;
        lock (_lock)
        {
            if (!_byId.TryGetValue(id, out registration))
            {
                return; // removed after epoll_wait returned
            }
        }

        try
        {
            var count = 0;
            if ((flags & EpollFlags.EPOLLIN) != 0)
            {
                if (registration.ReadGate is { } gate)
                {
                    // Read now if the gate is free, else the copier holding it reads as it leaves and re-arms: either way
                    // the read is done (and reported) by the gate, so whether it happened here does not matter.
                    _ = gate.RequestRead();
                    return;
                }
                else
                {
                    count = ReadAndReport(registration, batch);
                }

                if (count > 0)
                {
                    return;
                }
            }

            if ((flags & (EpollFlags.EPOLLHUP | EpollFlags.EPOLLERR)) != 0)
            {
                var what = (flags & EpollFlags.EPOLLHUP) != 0 ? "hang-up (EPOLLHUP)" : "error condition (EPOLLERR)";
                throw new IOException($"epoll reported {what} on {registration.Handle} for {registration.Token}; it is no longer watched.");
            }
        }
        catch (Exception ex)
        {
            RemoveById(id);
            ReportError(registration.Token, ex);
        }
    }

    private int ReadAndReport(Registration registration, Span<UffdMsg> batch)
    {
        var count = UserFaultFd.ReadMessages(registration.Handle, batch);
        if (count > 0)
        {
            _onMessages(registration.Token, batch[..count]);
        }

        return count;
    }

    private void RemoveById(ulong id)
    {
        lock (_lock)
        {
            if (_byId.Remove(id, out var registration))
            {
                _idByHandle.Remove(registration.Handle);
                Unregister(registration);
            }
        }
    }

    private void ReportError(object token, Exception error)
    {
        try
        {
            _onError(token, error);
        }
        catch (Exception)
        {
            // A throwing error callback must not kill the reader thread (it would take the process down).
        }
    }

    private readonly record struct Registration(SafeFdHandle Handle, object Token, UffdEventBarrier? ReadGate);
}
