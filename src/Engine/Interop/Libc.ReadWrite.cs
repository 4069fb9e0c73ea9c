using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

internal static partial class Libc
{
    /// <summary>read(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "read", SetLastError = true)]
    internal static unsafe partial nint Read(SafeFdHandle fd, void* buffer, nuint count);

    /// <summary>write(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "write", SetLastError = true)]
    internal static unsafe partial nint Write(SafeFdHandle fd, void* buffer, nuint count);

    /// <summary>pread(2): reads at <paramref name="offset"/> without moving the file position (any thread, any order).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "pread64", SetLastError = true)]
    internal static unsafe partial nint PRead(SafeHandle fd, void* buffer, nuint count, long offset);

    /// <summary>pipe2(2) with the given O_* flags; <paramref name="fds"/> points at two ints.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "pipe2", SetLastError = true)]
    internal static unsafe partial int Pipe2(int* fds, int flags);
}
