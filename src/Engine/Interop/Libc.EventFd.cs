using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

internal static partial class Libc
{
    /// <summary>EFD_CLOEXEC (= O_CLOEXEC).</summary>
    internal const int EFD_CLOEXEC = OpenFlags.O_CLOEXEC;

    /// <summary>EFD_NONBLOCK (= O_NONBLOCK).</summary>
    internal const int EFD_NONBLOCK = OpenFlags.O_NONBLOCK;

    /// <summary>eventfd(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "eventfd", SetLastError = true)]
    internal static partial int EventFd(uint initialValue, int flags);
}
