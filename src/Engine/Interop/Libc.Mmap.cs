using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

internal static partial class Libc
{
    /// <summary>The value mmap(2) returns on failure.</summary>
    internal static readonly nint MapFailed = -1;

    /// <summary>mmap(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "mmap", SetLastError = true)]
    internal static partial nint Mmap(nint address, nuint length, ProtFlags protection, MapFlags flags, int fd, long offset);

    /// <summary>munmap(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "munmap", SetLastError = true)]
    internal static partial int Munmap(nint address, nuint length);

    /// <summary>madvise(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "madvise", SetLastError = true)]
    internal static partial int Madvise(nint address, nuint length, MadviseAdvice advice);

    /// <summary>mremap(2); <paramref name="newAddress"/> is only read with MREMAP_FIXED.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "mremap", SetLastError = true)]
    internal static partial nint Mremap(nint oldAddress, nuint oldLength, nuint newLength, MremapFlags flags, nint newAddress);

    /// <summary>mprotect(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "mprotect", SetLastError = true)]
    internal static partial int Mprotect(nint address, nuint length, ProtFlags protection);
}
