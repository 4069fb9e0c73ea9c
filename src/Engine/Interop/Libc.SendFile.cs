using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace LazyActors.Engine.Interop;

internal static partial class Libc
{
    /// <summary>sendfile(2): copies from a file to a socket inside the kernel; advances <paramref name="offset"/>.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sendfile", SetLastError = true)]
    internal static unsafe partial nint SendFile(SafeSocketHandle socket, SafeFileHandle file, long* offset, nuint count);
}
