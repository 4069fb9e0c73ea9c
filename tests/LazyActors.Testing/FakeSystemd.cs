using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using LazyActors.Engine.CrashSafety;
using LazyActors.Engine.Interop;

namespace LazyActors.Testing;

/// <summary>
/// systemd's side of a <c>Type=notify</c> service with a file-descriptor store, for tests without systemd as pid 1: a
/// datagram socket to give the service as <c>NOTIFY_SOCKET</c>, read by a thread that keeps every descriptor sent with
/// <c>FDSTORE=1</c> under its <c>FDNAME</c> and closes them on <c>FDSTOREREMOVE=1</c>, as systemd does; every message is
/// also queued in order for <see cref="Next"/>. <see cref="PassStore"/> starts the successor as systemd would after a
/// crash: the stored descriptors at 3, 4, ... with <c>LISTEN_PID</c>, <c>LISTEN_FDS</c> and <c>LISTEN_FDNAMES</c>.
/// </summary>
public sealed class FakeSystemd : IDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);
    private readonly Socket _socket;
    private readonly SafeFdHandle _view;
    private readonly Thread _thread;
    private readonly Lock _gate = new();
    private readonly List<(string Name, SafeFdHandle Descriptor)> _store = [];
    private readonly BlockingCollection<(string Text, SafeFdHandle? Descriptor)> _messages = new();
    private volatile bool _stopping;

    private FakeSystemd(string path)
    {
        NotifySocket = path;
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _socket.Bind(new UnixDomainSocketEndPoint(path));
        _view = new SafeFdHandle((int)_socket.Handle, ownsHandle: false);
        _thread = new Thread(Run) { IsBackground = true, Name = "fake-systemd" };
        _thread.Start();
    }

    /// <summary>The notify socket's path (the service's <c>NOTIFY_SOCKET</c>).</summary>
    public string NotifySocket { get; }

    /// <summary>The names in the store now, in the order they were stored.</summary>
    public IReadOnlyList<string> Stored
    {
        get
        {
            lock (_gate)
            {
                return [.. _store.Select(e => e.Name)];
            }
        }
    }

    /// <summary>Listens on <paramref name="path"/>.</summary>
    public static FakeSystemd Start(string path) => new(path);

    /// <summary>The next message the service sent, in order, with the descriptor it stored (owned by the store: not to be
    /// disposed; null for a message without one).</summary>
    /// <exception cref="TimeoutException">None came within <paramref name="timeout"/>.</exception>
    public (string Text, SafeFdHandle? Descriptor) Next(TimeSpan timeout) =>
        _messages.TryTake(out var message, timeout) ? message : throw new TimeoutException($"no message on {NotifySocket} within {timeout.TotalSeconds:0.#} s");

    /// <summary>Waits (bounded) until <paramref name="condition"/> holds for the store's names.</summary>
    public bool WaitUntil(Func<IReadOnlyList<string>, bool> condition, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition(Stored))
        {
            if (clock.Elapsed > timeout)
            {
                return false;
            }

            Thread.Sleep(20);
        }

        return true;
    }

    /// <summary>Takes <paramref name="name"/>'s descriptor out of the store (as if systemd had lost it): the caller owns it.</summary>
    public SafeFdHandle Withdraw(string name)
    {
        lock (_gate)
        {
            var index = _store.FindIndex(e => e.Name == name);
            if (index < 0)
            {
                throw new InvalidOperationException($"{name} is not in the store ({string.Join(", ", _store.Select(e => e.Name))})");
            }

            var descriptor = _store[index].Descriptor;
            _store.RemoveAt(index);
            return descriptor;
        }
    }

    /// <summary>
    /// What systemd does when it starts the service again: the stored descriptors become the successor's 3, 4, ... with
    /// their names in <c>LISTEN_FDNAMES</c>. Returns the launcher to put before the successor's command (a shell that moves
    /// the descriptors into place, sets <c>LISTEN_PID</c> to its own pid and execs the command) and the inherited
    /// duplicates, to be disposed right after the successor started.
    /// </summary>
    public (IReadOnlyList<string> Launcher, IDisposable Inherited) PassStore()
    {
        List<(string Name, SafeFdHandle Descriptor)> stored;
        lock (_gate)
        {
            stored = [.. _store];
        }

        var inherited = new List<SafeFdHandle>();
        var moves = new StringBuilder();
        var closes = new StringBuilder();
        try
        {
            for (var i = 0; i < stored.Count; i++)
            {
                // Numbered high and without FD_CLOEXEC, so the started shell inherits them; it moves each to 3 + i.
                var high = Libc.Fcntl(stored[i].Descriptor.Fd, Libc.F_DUPFD, 300 + i);
                if (high < 0)
                {
                    LinuxException.ThrowLast("fcntl(F_DUPFD) of a stored descriptor");
                }

                inherited.Add(new SafeFdHandle(high, ownsHandle: true));
                moves.Append(CultureInfo.InvariantCulture, $" {3 + i}<&{high}");
                closes.Append(CultureInfo.InvariantCulture, $" {high}<&-");
            }
        }
        catch
        {
            inherited.ForEach(h => h.Dispose());
            throw;
        }

        var names = string.Join(':', stored.Select(e => e.Name));
        var script = (stored.Count == 0 ? string.Empty : $"exec{moves}; exec{closes}; ")
            + $"export LISTEN_PID=$$ LISTEN_FDS={stored.Count} LISTEN_FDNAMES='{names}'; exec \"$@\"";
        return (["/bin/bash", "-c", script, "systemd-successor"], new Handles(inherited));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stopping = true;
        _thread.Join(TimeSpan.FromSeconds(5));
        _socket.Dispose();
        lock (_gate)
        {
            foreach (var (_, descriptor) in _store)
            {
                descriptor.Dispose();
            }

            _store.Clear();
        }

        _messages.Dispose();
    }

    private void Run()
    {
        var buffer = new byte[GuardianSocket.MaxRecord];
        while (!_stopping)
        {
            int length;
            SafeFdHandle? descriptor;
            try
            {
                length = GuardianSocket.Receive(_view, buffer, out descriptor, Poll);
            }
            catch (TimeoutException)
            {
                continue;
            }
            catch (Exception ex) when (ex is LinuxException or InvalidDataException or ObjectDisposedException)
            {
                return;
            }

            var text = Encoding.ASCII.GetString(buffer, 0, length);
            var fields = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var named = fields.FirstOrDefault(f => f.StartsWith("FDNAME=", StringComparison.Ordinal));
            var name = named is null ? "stored" : named["FDNAME=".Length..];
            lock (_gate)
            {
                if (fields.Contains("FDSTORE=1") && descriptor is not null)
                {
                    _store.Add((name, descriptor));
                }
                else
                {
                    descriptor?.Dispose();
                    descriptor = null;
                    if (fields.Contains("FDSTOREREMOVE=1"))
                    {
                        foreach (var removed in _store.Where(e => e.Name == name).ToList())
                        {
                            removed.Descriptor.Dispose();
                            _store.Remove(removed);
                        }
                    }
                }
            }

            _messages.Add((text, descriptor));
        }
    }

    private sealed class Handles(List<SafeFdHandle> handles) : IDisposable
    {
        public void Dispose() => handles.ForEach(h => h.Dispose());
    }
}
