using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

internal static partial class Libc
{
    /// <summary>fcntl F_DUPFD: a duplicate at the lowest free number at or above the argument, without FD_CLOEXEC.</summary>
    internal const int F_DUPFD = 0;

    /// <summary>fcntl F_SETFD: sets the descriptor flags (<see cref="FD_CLOEXEC"/>).</summary>
    internal const int F_SETFD = 2;

    /// <summary>Close the descriptor on exec.</summary>
    internal const int FD_CLOEXEC = 1;

    /// <summary>fcntl F_GETFL: the file status flags (<see cref="OpenFlags.O_NONBLOCK"/> among them).</summary>
    internal const int F_GETFL = 3;

    /// <summary>fcntl F_SETFL: sets the file status flags.</summary>
    internal const int F_SETFL = 4;

    /// <summary>fcntl(2) with an integer argument.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(int fd, int command, int argument);

    /// <summary>fcntl(2) with an integer argument on a .NET socket's descriptor.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(System.Net.Sockets.SafeSocketHandle socket, int command, int argument);

    /// <summary>ioctl(2) whose argument points at an int (FIONREAD).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
    internal static unsafe partial int IoctlInt(SafeFdHandle fd, nuint request, int* value);
}
