using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

internal static partial class Libc
{
    /// <summary>x86_64 system call number of userfaultfd(2).</summary>
    internal const long SysUserfaultfd = 323;

    /// <summary>syscall(2) with one integer argument (used for userfaultfd, which glibc may not wrap).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall(long number, long arg0);
}
