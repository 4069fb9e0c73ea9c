using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

internal static partial class Libc
{
    /// <summary>socket(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    /// <summary>socketpair(2); <paramref name="fds"/> points at two ints.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "socketpair", SetLastError = true)]
    internal static unsafe partial int SocketPair(int domain, int type, int protocol, int* fds);

    /// <summary>bind(2) for an AF_UNIX address.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "bind", SetLastError = true)]
    internal static unsafe partial int Bind(SafeFdHandle socket, SockaddrUn* address, uint addressLength);

    /// <summary>listen(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "listen", SetLastError = true)]
    internal static partial int Listen(SafeFdHandle socket, int backlog);

    /// <summary>accept4(2); the peer address may be null.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "accept4", SetLastError = true)]
    internal static unsafe partial int Accept4(SafeFdHandle socket, SockaddrUn* address, uint* addressLength, int flags);

    /// <summary>connect(2) to an AF_UNIX address.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "connect", SetLastError = true)]
    internal static unsafe partial int Connect(SafeFdHandle socket, SockaddrUn* address, uint addressLength);

    /// <summary>getsockname(2) for an AF_UNIX socket.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "getsockname", SetLastError = true)]
    internal static unsafe partial int GetSockName(SafeFdHandle socket, SockaddrUn* address, uint* addressLength);

    /// <summary>getsockopt(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "getsockopt", SetLastError = true)]
    internal static unsafe partial int GetSockOpt(SafeFdHandle socket, int level, int name, void* value, uint* length);

    /// <summary>send(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "send", SetLastError = true)]
    internal static unsafe partial nint Send(SafeFdHandle socket, void* buffer, nuint length, int flags);

    /// <summary>recv(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "recv", SetLastError = true)]
    internal static unsafe partial nint Recv(SafeFdHandle socket, void* buffer, nuint length, int flags);

    /// <summary>sendmsg(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sendmsg", SetLastError = true)]
    internal static unsafe partial nint SendMsg(SafeFdHandle socket, Msghdr* message, int flags);

    /// <summary>recvmsg(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "recvmsg", SetLastError = true)]
    internal static unsafe partial nint RecvMsg(SafeFdHandle socket, Msghdr* message, int flags);

    /// <summary>MSG_WAITALL: a blocking recv returns only once the whole buffer is filled (or EOF, an error, a signal).</summary>
    internal const int MSG_WAITALL = 0x100;

    /// <summary>MSG_NOSIGNAL: a send to a closed peer fails with EPIPE instead of raising SIGPIPE.</summary>
    internal const int MSG_NOSIGNAL = 0x4000;

    /// <summary>recv(2) on a .NET socket's descriptor (held for the call, so it cannot be closed under it).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "recv", SetLastError = true)]
    internal static unsafe partial nint Recv(System.Net.Sockets.SafeSocketHandle socket, void* buffer, nuint length, int flags);

    /// <summary>send(2) on a .NET socket's descriptor.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "send", SetLastError = true)]
    internal static unsafe partial nint Send(System.Net.Sockets.SafeSocketHandle socket, void* buffer, nuint length, int flags);
}
