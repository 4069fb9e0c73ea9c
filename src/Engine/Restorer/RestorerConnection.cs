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

            observer.Connected(PeerPid(connection));
            Span<byte> word = stackalloc byte[4];
            for (var i = 0; i < entries; i++)
            {
                if (!Receive(connection, word, readTimeout, cancellation, $"PID recv (entry {i + 1} of {entries})", observer))
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
                    continue;
                }

                if (pid == 0)
                {
                    observer.Failed($"PID recv: pid 0 in entry {i + 1} of {entries}");
                    return;
                }

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

            if (!Receive(connection, word, readTimeout, cancellation, "restore-finished recv", observer))
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

            if (!WaitReadable(connection, readTimeout, cancellation) || UnixSocket.HasData(connection))
            {
                // Data (the restorer), or silence: the caller's first read reports a timeout or a cancellation.
                return connection;
            }

            connection.Dispose();
            observer.PeerClosedSilently($"pid {peer.Pid} (uid {peer.Uid}) connected to {LazyPagesHandshake.SocketName} and closed without a word (another lazy-pages checking whether this one listens?); still waiting for the restorer");
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
