using System.Text;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;

namespace LazyActors.Engine.CrashSafety;

/// <summary>
/// systemd's file-descriptor store, reached through <c>NOTIFY_SOCKET</c> (sd_notify's datagram socket): a descriptor
/// sent with <c>FDSTORE=1</c> and a name stays open in systemd when the service dies and is passed back to its next start
/// (<c>LISTEN_FDS</c>, <c>LISTEN_FDNAMES</c>); <c>FDSTOREREMOVE=1</c> closes it there. The unit needs
/// <c>FileDescriptorStoreMax=</c> above the descriptors kept at once. Messages are written as sd_notify writes them (one
/// datagram, the descriptor by SCM_RIGHTS); <c>FDPOLL=0</c> keeps systemd from dropping a uffd or socket it would see
/// become readable or hang up: each is removed by name when its job no longer needs it. Thread-safe.
/// </summary>
public sealed class SystemdFdStore : IDisposable
{
    /// <summary>The variable systemd sets for a service with a notify socket.</summary>
    public const string NotifySocketVariable = "NOTIFY_SOCKET";

    /// <summary>systemd's longest descriptor name.</summary>
    public const int MaxNameLength = 255;

    private readonly SafeFdHandle _socket;

    private SystemdFdStore(SafeFdHandle socket, string path)
    {
        _socket = socket;
        NotifySocket = path;
    }

    /// <summary>The notify socket's address (<c>@</c> first for the abstract namespace).</summary>
    public string NotifySocket { get; }

    /// <summary>The store of the service's notify socket, or null when <c>NOTIFY_SOCKET</c> is not set.</summary>
    /// <exception cref="LinuxException">The notify socket cannot be reached.</exception>
    public static SystemdFdStore? FromEnvironment() =>
        Environment.GetEnvironmentVariable(NotifySocketVariable) is { Length: > 0 } path ? Connect(path) : null;

    /// <summary>A store reached through the datagram socket at <paramref name="path"/> (<c>@name</c>: abstract).</summary>
    /// <exception cref="LinuxException">The socket cannot be reached.</exception>
    public static unsafe SystemdFdStore Connect(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var address = SockaddrUn.Create(path, out var length);
        if (path[0] == '@')
        {
            address.Path[0] = 0;
        }

        var fd = Libc.Socket(SocketConstants.AF_UNIX, SocketConstants.SOCK_DGRAM | SocketConstants.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            LinuxException.ThrowLast("socket(AF_UNIX, SOCK_DGRAM)");
        }

        var socket = new SafeFdHandle(fd, ownsHandle: true);
        if (Libc.Connect(socket, &address, length) < 0)
        {
            socket.Dispose();
            LinuxException.ThrowLast($"connect({path}, the systemd notify socket)");
        }

        return new SystemdFdStore(socket, path);
    }

    /// <summary>Hands a duplicate of <paramref name="descriptor"/> to the store under <paramref name="name"/> (a name
    /// stored again replaces nothing: systemd keeps both, so names are unique per descriptor).</summary>
    /// <exception cref="LinuxException">systemd's socket refused the message.</exception>
    public void Store(string name, SafeFdHandle descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        Send($"FDSTORE=1\nFDPOLL=0\nFDNAME={CheckName(name)}\n", descriptor);
    }

    /// <summary>Closes every descriptor stored under <paramref name="name"/>.</summary>
    /// <exception cref="LinuxException">systemd's socket refused the message.</exception>
    public void Remove(string name) => Send($"FDSTOREREMOVE=1\nFDNAME={CheckName(name)}\n", null);

    /// <inheritdoc />
    public void Dispose() => _socket.Dispose();

    /// <summary>A valid descriptor name: 1 to 255 printable ASCII characters, no <c>:</c> (LISTEN_FDNAMES' separator).</summary>
    /// <exception cref="ArgumentException">It is not.</exception>
    public static string CheckName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > MaxNameLength || name.Any(c => c is < '!' or > '~' or ':'))
        {
            throw new ArgumentException($"'{name}' is not a systemd file-descriptor name (1 to {MaxNameLength} printable ASCII characters, no ':')", nameof(name));
        }

        return name;
    }

    private void Send(string message, SafeFdHandle? descriptor) =>
        UnixSocket.SendMessage(_socket, Encoding.ASCII.GetBytes(message), descriptor, $"sd_notify to {NotifySocket}");
}
