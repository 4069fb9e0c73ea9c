using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

internal static partial class Libc
{
    /// <summary>x86_64 system call number of fstat(2); called directly because glibc exports <c>fstat</c> only since 2.33.</summary>
    internal const long SysFstat = 5;

    /// <summary>syscall(2) with a descriptor and a pointer (fstat).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static unsafe partial long Syscall(long number, int fd, void* pointer);

    /// <summary>fstat(2) of <paramref name="fd"/>.</summary>
    internal static unsafe int Fstat(SafeFdHandle fd, FileStatus* status)
    {
        var added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            return (int)Syscall(SysFstat, fd.Fd, status);
        }
        finally
        {
            fd.DangerousRelease();
        }
    }

    /// <summary>x86_64 system call number of lstat(2).</summary>
    internal const long SysLstat = 6;

    /// <summary>syscall(2) with a path and a pointer (lstat).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial long Syscall(long number, string path, void* pointer);

    /// <summary>lstat(2) of <paramref name="path"/> (a link itself, not its target).</summary>
    internal static unsafe int Lstat(string path, FileStatus* status) => (int)Syscall(SysLstat, path, status);

    /// <summary>fchmod(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "fchmod", SetLastError = true)]
    internal static partial int Fchmod(SafeFdHandle fd, uint mode);

    /// <summary>chmod(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Chmod(string path, uint mode);

    /// <summary>geteuid(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "geteuid")]
    internal static partial uint GetEuid();
}
