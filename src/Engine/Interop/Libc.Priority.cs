using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

internal static partial class Libc
{
    /// <summary><c>which</c> of setpriority(2): a process or, with a thread id, one thread.</summary>
    internal const int PRIO_PROCESS = 0;

    /// <summary>setpriority(2): on Linux, with PRIO_PROCESS and a thread id, sets that thread's nice value.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "setpriority", SetLastError = true)]
    internal static partial int SetPriority(int which, uint who, int niceValue);

    /// <summary>gettid(2): the calling thread's kernel id.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "gettid")]
    internal static partial int GetTid();
}
