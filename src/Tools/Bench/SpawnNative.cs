using System.Runtime.InteropServices;
using LazyActors.Engine.Interop;

namespace LazyActors.Tools.Bench;

/// <summary>
/// posix_spawn(3) and wait4(2) for the daemon under test, and thread CPU affinity for the round-trip probe: posix_spawn gives exact control over which descriptors the
/// child gets (the status pipe at a fixed number, stdout/stderr to a log file), and reaping with wait4 yields the
/// child's own rusage (peak RSS, CPU time) without sampling. The opaque glibc types are passed as zeroed buffers
/// larger than their x86_64 sizes (posix_spawn_file_actions_t 80 bytes, posix_spawnattr_t 336, sigset_t 128).
/// </summary>
internal static unsafe partial class SpawnNative
{
    public const int FileActionsBytes = 256;
    public const int SpawnAttrBytes = 512;
    public const int SigsetBytes = 128;

    public const short PosixSpawnSetSigDef = 0x04;
    public const short PosixSpawnSetSigMask = 0x08;
    public const int Sigpipe = 13;
    public const int Sigkill = 9;
    public const int Wnohang = 1;

    public const int OCreat = 0x40;
    public const int OTrunc = 0x200;

    [LibraryImport(Libraries.Libc, EntryPoint = "posix_spawn_file_actions_init")]
    public static partial int FileActionsInit(void* actions);

    [LibraryImport(Libraries.Libc, EntryPoint = "posix_spawn_file_actions_destroy")]
    public static partial int FileActionsDestroy(void* actions);

    [LibraryImport(Libraries.Libc, EntryPoint = "posix_spawn_file_actions_adddup2")]
    public static partial int FileActionsAddDup2(void* actions, int fd, int newFd);

    [LibraryImport(Libraries.Libc, EntryPoint = "posix_spawn_file_actions_addopen", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int FileActionsAddOpen(void* actions, int fd, string path, int flags, uint mode);

    [LibraryImport(Libraries.Libc, EntryPoint = "posix_spawnattr_init")]
    public static partial int AttrInit(void* attr);

    [LibraryImport(Libraries.Libc, EntryPoint = "posix_spawnattr_destroy")]
    public static partial int AttrDestroy(void* attr);

    [LibraryImport(Libraries.Libc, EntryPoint = "posix_spawnattr_setflags")]
    public static partial int AttrSetFlags(void* attr, short flags);

    [LibraryImport(Libraries.Libc, EntryPoint = "posix_spawnattr_setsigdefault")]
    public static partial int AttrSetSigDefault(void* attr, void* sigset);

    [LibraryImport(Libraries.Libc, EntryPoint = "posix_spawnattr_setsigmask")]
    public static partial int AttrSetSigMask(void* attr, void* sigset);

    [LibraryImport(Libraries.Libc, EntryPoint = "sigemptyset")]
    public static partial int SigEmptySet(void* sigset);

    [LibraryImport(Libraries.Libc, EntryPoint = "sigaddset")]
    public static partial int SigAddSet(void* sigset, int signal);

    /// <summary>posix_spawnp(3): returns 0 or an error number (errno is not set).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "posix_spawnp")]
    public static partial int Spawnp(int* pid, byte* file, void* actions, void* attr, byte** argv, byte** envp);

    /// <summary>wait4(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "wait4", SetLastError = true)]
    public static partial int Wait4(int pid, int* status, int options, Rusage* usage);

    /// <summary>sched_setaffinity(2) of the calling thread (pid 0) or thread <paramref name="tid"/>.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sched_setaffinity", SetLastError = true)]
    public static partial int SchedSetAffinity(int tid, nuint maskBytes, ulong* mask);

    /// <summary>sched_getaffinity(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sched_getaffinity", SetLastError = true)]
    public static partial int SchedGetAffinity(int tid, nuint maskBytes, ulong* mask);

    /// <summary>kill(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}
