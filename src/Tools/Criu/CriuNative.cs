using System.Runtime.InteropServices;
using LazyActors.Engine.Interop;

namespace LazyActors.Tools.Criu;

/// <summary>
/// The few libc calls the CRIU harness needs beyond the engine's and the bench's bindings: the monotonic clock the
/// native helpers stamp their events with, a working directory for a spawned child, and the lock file of
/// <see cref="PipeMaxSizeScope"/>.
/// </summary>
internal static unsafe partial class CriuNative
{
    public const int ClockMonotonic = 1;
    public const int Sigterm = 15;
    public const int Sigusr1 = 10;
    public const int OAppend = 0x400;
    public const int OCreat = 0x40;
    public const int LockSh = 1;
    public const int LockEx = 2;
    public const int LockNb = 4;
    public const int LockUn = 8;

    /// <summary>clock_gettime(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "clock_gettime", SetLastError = true)]
    public static partial int ClockGetTime(int clock, Timespec* time);

    /// <summary>posix_spawn_file_actions_addchdir_np(3) (glibc 2.29+): the child's working directory.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "posix_spawn_file_actions_addchdir_np", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int FileActionsAddChdir(void* actions, string path);

    /// <summary>geteuid(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "geteuid")]
    public static partial uint GetEuid();

    /// <summary>open(2) with a mode (for O_CREAT).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, uint mode);

    /// <summary>flock(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(SafeFdHandle fd, int operation);

    /// <summary>pread(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "pread", SetLastError = true)]
    public static partial nint Pread(SafeFdHandle fd, byte* buffer, nuint count, long offset);

    /// <summary>pwrite(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "pwrite", SetLastError = true)]
    public static partial nint Pwrite(SafeFdHandle fd, byte* buffer, nuint count, long offset);

    /// <summary>ftruncate(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(SafeFdHandle fd, long length);

    /// <summary>struct timespec on x86_64.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 16)]
    public struct Timespec
    {
        [FieldOffset(0)] public long Seconds;
        [FieldOffset(8)] public long Nanoseconds;
    }
}
