using System.Buffers.Binary;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Restorer;

/// <summary>
/// The daemon side of the lazy-pages socket handshake (spec §1.3–1.4), blocking, meant for a dedicated thread: accept
/// exactly one connection and close the listener, then read <c>entries</c> rounds of {int32 pid; if pid &gt; 0 one
/// byte with SCM_RIGHTS}, then the 4-byte "restore finished" word. Every wait is bounded or cancellable.
/// </summary>
public static class RestorerConnection
{
    private static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(200);

    /// <summary>Runs the whole handshake, reporting to <paramref name="observer"/>. Disposes the listener after accept.</summary>
    /// <param name="listener">The listening lazy-pages.socket.</param>
    /// <param name="entries">Number of pstree entries (zombies included).</param>
    /// <param name="acceptTimeout">Longest wait for the connection; null = until cancelled.</param>
    /// <param name="readTimeout">Longest wait for each message once connected.</param>
    /// <param name="observer">Receives the results.</param>
    /// <param name="cancellation">Stops waiting (no report then).</param>
    public static void Run(SafeFdHandle listener, int entries, TimeSpan? acceptTimeout, TimeSpan readTimeout,
        IRestorerObserver observer, CancellationToken cancellation) =>
        Run(listener, entries, acceptTimeout, readTimeout, [], observer, cancellation);

    /// <summary>
    /// Runs the whole handshake, reporting to <paramref name="observer"/>; only a peer running as this process's
    /// effective uid or one of <paramref name="allowedUids"/> (SO_PEERCRED) is taken as the restorer. Disposes the
    /// listener once the restorer is connected.
    /// </summary>
    /// <param name="listener">The listening lazy-pages.socket.</param>
    /// <param name="entries">Number of pstree entries (zombies included).</param>
    /// <param name="acceptTimeout">Longest wait for the restorer; null = until cancelled.</param>
    /// <param name="readTimeout">Longest wait for each message once connected.</param>
    /// <param name="allowedUids">Uids besides our own whose connections are accepted.</param>
    /// <param name="observer">Receives the results.</param>
    /// <param name="cancellation">Stops waiting (no report then).</param>
    public static void Run(SafeFdHandle listener, int entries, TimeSpan? acceptTimeout, TimeSpan readTimeout,
        IReadOnlyCollection<uint> allowedUids, IRestorerObserver observer, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(allowedUids);
        SafeFdHandle? connection = null;
        try
        {
            using (listener)
            {
                connection = AcceptRestorer(listener, acceptTimeout, readTimeout, allowedUids, observer, cancellation);
            }

            if (connection is null)
            {
                return;
            }

            var peer = PeerPid(connection);
            observer.Connected(peer);
            Serve(connection, entries, 0, readTimeout, observer, cancellation);
        }
        // ObjectDisposedException: the listener or connection was closed under the handshake (the restore was stopped).
        catch (Exception ex) when (ex is LinuxException or IOException or TimeoutException or ObjectDisposedException)
        {
            if (!cancellation.IsCancellationRequested)
            {
                observer.Failed($"lazy-pages socket: {ex.Message}");
            }
        }
        finally
        {
            connection?.Dispose();
        }
    }

    /// <summary>
    /// Continues a handshake a dead daemon began (crash safety): <paramref name="entriesDone"/> pstree entries were
    /// journalled. A zombie is journalled before its word is consumed, so when the last journalled entry was zombie
    /// <paramref name="lastZombie"/> and its word is still next on the connection, it is consumed first.
    /// </summary>
    /// <param name="connection">The restorer's connection (owned: disposed at the end).</param>
    /// <param name="entries">Number of pstree entries.</param>
    /// <param name="entriesDone">Entries the journal holds.</param>
    /// <param name="lastZombie">The last journalled entry's pid when it was a zombie.</param>
    /// <param name="readTimeout">Longest wait for each message.</param>
    /// <param name="observer">Receives the results.</param>
    /// <param name="cancellation">Stops waiting (no report then).</param>
    public static void Resume(SafeFdHandle connection, int entries, int entriesDone, int? lastZombie, TimeSpan readTimeout,
        IRestorerObserver observer, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(observer);
        try
        {
            Span<byte> word = stackalloc byte[4];
            if (lastZombie is { } zombie && Peek(connection, word, readTimeout, cancellation)
                && BinaryPrimitives.ReadInt32LittleEndian(word) == -zombie)
            {
                UnixSocket.ReceiveExactly(connection, word, readTimeout);
            }

            Serve(connection, entries, entriesDone, readTimeout, observer, cancellation);
        }
        catch (Exception ex) when (ex is LinuxException or IOException or TimeoutException or ObjectDisposedException)
        {
            if (!cancellation.IsCancellationRequested)
            {
                observer.Failed($"lazy-pages socket: {ex.Message}");
            }
        }
        finally
        {
            connection.Dispose();
        }
    }

    /// <summary>
    /// Reads entries <paramref name="startEntry"/>.. and the "restore finished" word. Each entry is consumed in one step
    /// where the socket allows it: a zombie's and the final word are peeked, reported, then consumed; a live task's pid
    /// and the byte carrying its uffd are received by one <c>recvmsg</c> once both are queued. So at any moment the
    /// connection's position and what the observer was told agree, up to one <c>recvmsg</c> and the report after it.
    /// </summary>
    private static void Serve(SafeFdHandle connection, int entries, int startEntry, TimeSpan readTimeout, IRestorerObserver observer,
        CancellationToken cancellation)
    {
        Span<byte> word = stackalloc byte[4];
        for (var i = startEntry; i < entries; i++)
        {
            if (!PeekReported(connection, word, readTimeout, cancellation, $"PID recv (entry {i + 1} of {entries})", observer))
            {
                return;
            }

            var pid = BinaryPrimitives.ReadInt32LittleEndian(word);
            if ((uint)pid == LazyPagesHandshake.RestoreFinished)
            {
                // No pid is that large (PID_MAX_LIMIT is 2^22): the restorer finished with entries missing.
                observer.Failed($"the restorer sent \"restore finished\" after {i} of the {entries} pstree entries: every task of pstree.img must be announced (a pid and its uffd, or a negative pid for a zombie)");
                return;
            }

            if (pid < 0)
            {
                observer.Zombie(-pid);
                UnixSocket.ReceiveExactly(connection, word, readTimeout);
                continue;
            }

            if (pid == 0)
            {
                observer.Failed($"PID recv: pid 0 in entry {i + 1} of {entries}");
                return;
            }

            var queued = WaitQueued(connection, 5, readTimeout, cancellation);
            if (queued == Queue.Ready && UnixSocket.TryReceiveWordAndFd(connection, out var atomicPid, out var atomicUffd))
            {
                if (atomicUffd is null)
                {
                    observer.Failed($"recv_fd error for pid {pid}: no file descriptor came with the byte after the pid");
                    return;
                }

                observer.TaskUffd(atomicPid, atomicUffd);
                continue;
            }

            if (queued == Queue.TimedOut)
            {
                ReportTimeoutOrNothing(observer, cancellation, $"recv_fd error: no uffd for pid {pid} within {readTimeout.TotalSeconds:0.#} s");
                return;
            }

            // The uffd has not arrived yet, or the peer closed: the step by step reads report which.
            UnixSocket.ReceiveExactly(connection, word, readTimeout);
            if (!WaitReadable(connection, readTimeout, cancellation))
            {
                ReportTimeoutOrNothing(observer, cancellation, $"recv_fd error: no uffd for pid {pid} within {readTimeout.TotalSeconds:0.#} s");
                return;
            }

            SafeFdHandle uffd;
            try
            {
                uffd = UnixSocket.ReceiveFd(connection, readTimeout);
            }
            catch (EndOfStreamException)
            {
                observer.Failed($"Restorer unexpectedly closed the connection before sending the uffd of pid {pid}");
                return;
            }
            catch (Exception ex) when (ex is InvalidDataException or LinuxException or TimeoutException)
            {
                observer.Failed($"recv_fd error for pid {pid}: {ex.Message}");
                return;
            }

            observer.TaskUffd(pid, uffd);
        }

        if (!PeekReported(connection, word, readTimeout, cancellation, "restore-finished recv", observer))
        {
            return;
        }

        var finished = BinaryPrimitives.ReadUInt32LittleEndian(word);
        if (finished != LazyPagesHandshake.RestoreFinished)
        {
            observer.Failed($"Unexpected response 0x{finished:x8} from the restorer (expected 0x{LazyPagesHandshake.RestoreFinished:x8} \"restore finished\")");
            return;
        }

        observer.RestoreFinished();
        try
        {
            UnixSocket.ReceiveExactly(connection, word, readTimeout);
        }
        catch (EndOfStreamException)
        {
            // Already reported; nothing follows "restore finished".
        }

        WatchRestorerExit(connection, observer, cancellation);
    }

    // A short poll slice: the supervisor joins this thread when it stops, and the watch may still run then.
    private static readonly TimeSpan ExitWatchSlice = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// Waits (at most the observer's <see cref="IRestorerObserver.RestorerExitWatch"/>) for the restorer to close the
    /// connection: CRIU keeps its end in its fd store until <c>criu restore</c> exits, so the hang-up says the restorer's
    /// last steps after "restore finished" (stopping the tasks at rt_sigreturn, detaching) are over.
    /// </summary>
    private static void WatchRestorerExit(SafeFdHandle connection, IRestorerObserver observer, CancellationToken cancellation)
    {
        var watch = observer.RestorerExitWatch;
        if (watch <= TimeSpan.Zero)
        {
            return;
        }

        var deadline = DateTime.UtcNow + watch;
        while (!cancellation.IsCancellationRequested)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                observer.RestorerGone(closed: false);
                return;
            }

            if (UnixSocket.WaitReadable(connection, left < ExitWatchSlice ? left : ExitWatchSlice))
            {
                // Readable after the last word: the hang-up, or bytes nobody expects (then it is not waited for longer).
                observer.RestorerGone(closed: UnixSocket.IsHungUp(connection));
                return;
            }
        }
    }

    /// <summary>Peeks the next 4-byte word once all of it is queued; false (reported) on timeout, cancellation or EOF.</summary>
    private static bool PeekReported(SafeFdHandle connection, Span<byte> word, TimeSpan timeout, CancellationToken cancellation,
        string what, IRestorerObserver observer)
    {
        var queued = WaitQueued(connection, 4, timeout, cancellation);
        if (queued == Queue.Ready && UnixSocket.TryPeek(connection, word))
        {
            return true;
        }

        if (queued == Queue.TimedOut)
        {
            ReportTimeoutOrNothing(observer, cancellation, $"{what}: nothing arrived within {timeout.TotalSeconds:0.#} s");
            return false;
        }

        // The peer hung up with fewer than 4 bytes: the plain read reports it.
        return Receive(connection, word, timeout, cancellation, what, observer) && Failed(observer, $"{what}: a partial word arrived");
    }

    private static bool Failed(IRestorerObserver observer, string reason)
    {
        observer.Failed(reason);
        return false;
    }

    private static bool Peek(SafeFdHandle connection, Span<byte> word, TimeSpan timeout, CancellationToken cancellation) =>
        WaitQueued(connection, 4, timeout, cancellation) == Queue.Ready && UnixSocket.TryPeek(connection, word);

    /// <summary>Waits (bounded, polling briefly while a message is partly queued) until at least <paramref name="bytes"/>
    /// are queued.</summary>
    private static Queue WaitQueued(SafeFdHandle connection, int bytes, TimeSpan timeout, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!cancellation.IsCancellationRequested && DateTime.UtcNow < deadline)
        {
            if (!WaitReadable(connection, deadline - DateTime.UtcNow, cancellation))
            {
                break;
            }

            if (CrashQueued(connection) >= bytes)
            {
                return Queue.Ready;
            }

            if (UnixSocket.IsHungUp(connection))
            {
                return Queue.HungUp;
            }

            Thread.Sleep(1);
        }

        return Queue.TimedOut;
    }

    /// <summary>How a wait for queued bytes ended.</summary>
    private enum Queue
    {
        Ready,
        TimedOut,
        HungUp,
    }

    private static int CrashQueued(SafeFdHandle connection) => CrashSafety.GuardianSocket.Queued(connection);

    /// <summary>The connecting process (SO_PEERCRED), or 0 when the kernel cannot say.</summary>
    private static int PeerPid(SafeFdHandle connection)
    {
        try
        {
            return UnixSocket.PeerCredentials(connection).Pid;
        }
        catch (LinuxException)
        {
            return 0;
        }
    }

    /// <summary>
    /// Accepts connections until one is the restorer: a peer whose uid is not allowed is refused (closed, reported), and
    /// one that closes without sending a byte is let go (another lazy-pages checking whether this one listens does
    /// that); the first allowed peer that sends data is the restorer. Null when cancelled.
    /// </summary>
    private static SafeFdHandle? AcceptRestorer(SafeFdHandle listener, TimeSpan? timeout, TimeSpan readTimeout,
        IReadOnlyCollection<uint> allowedUids, IRestorerObserver observer, CancellationToken cancellation)
    {
        var deadline = timeout is { } t ? DateTime.UtcNow + t : DateTime.MaxValue;
        var ownUid = Libc.GetEuid();
        while (!cancellation.IsCancellationRequested)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"nobody connected to {LazyPagesHandshake.SocketName} within {timeout!.Value.TotalSeconds:0.#} s");
            }

            SafeFdHandle connection;
            try
            {
                connection = UnixSocket.Accept(listener, left < Slice ? left : Slice);
            }
            catch (TimeoutException)
            {
                continue; // poll again (cancellation, deadline)
            }

            var peer = UnixSocket.PeerCredentials(connection);
            if (peer.Uid != ownUid && !allowedUids.Contains(peer.Uid))
            {
                connection.Dispose();
                observer.PeerRefused($"refused a connection to {LazyPagesHandshake.SocketName} from uid {peer.Uid} (pid {peer.Pid}): only uid {ownUid}"
                    + (allowedUids.Count > 0 ? $" and {string.Join(", ", allowedUids)} (restorer-allowed-uids)" : "")
                    + " may restore through this daemon");
                continue;
            }

            // Reported now, not once its first word arrives: a restorer connects well before it sends (CRIU connects, then
            // restores its tasks), and a crash journal must hold the connection meanwhile.
            observer.Accepted(connection, peer.Pid);
            if (!WaitReadable(connection, readTimeout, cancellation) || UnixSocket.HasData(connection))
            {
                // Data (the restorer), or silence: the caller's first read reports a timeout or a cancellation.
                return connection;
            }

            connection.Dispose();
            observer.PeerClosedSilently($"pid {peer.Pid} (uid {peer.Uid}) connected to {LazyPagesHandshake.SocketName} and closed without a word (another lazy-pages checking whether this one listens?); still waiting for the restorer");
            observer.ListeningAgain(listener);
        }

        return null;
    }

    private static bool Receive(SafeFdHandle connection, Span<byte> word, TimeSpan timeout, CancellationToken cancellation,
        string what, IRestorerObserver observer)
    {
        if (!WaitReadable(connection, timeout, cancellation))
        {
            ReportTimeoutOrNothing(observer, cancellation, $"{what}: nothing arrived within {timeout.TotalSeconds:0.#} s");
            return false;
        }

        try
        {
            UnixSocket.ReceiveExactly(connection, word, timeout);
            return true;
        }
        catch (EndOfStreamException)
        {
            observer.Failed($"Restorer unexpectedly closed the connection ({what})");
            return false;
        }
    }

    private static bool WaitReadable(SafeFdHandle connection, TimeSpan timeout, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!cancellation.IsCancellationRequested)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            if (UnixSocket.WaitReadable(connection, left < Slice ? left : Slice))
            {
                return true;
            }
        }

        return false;
    }

    private static void ReportTimeoutOrNothing(IRestorerObserver observer, CancellationToken cancellation, string message)
    {
        if (!cancellation.IsCancellationRequested)
        {
            observer.Failed(message);
        }
    }
}
