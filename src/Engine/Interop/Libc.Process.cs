using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

internal static partial class Libc
{
    /// <summary>getpid(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "getpid")]
    internal static partial int GetPid();

    /// <summary>kill(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int signal);

    /// <summary><c>name</c> of sysconf(3) for the clock ticks per second of /proc times (USER_HZ).</summary>
    internal const int SC_CLK_TCK = 2;

    /// <summary>sysconf(3).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sysconf", SetLastError = true)]
    internal static partial long Sysconf(int name);

    /// <summary>prctl(2) with the common five-argument form.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "prctl", SetLastError = true)]
    internal static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);
}
