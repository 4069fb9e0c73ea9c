using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

internal static partial class Libc
{
    /// <summary>
    /// memcpy(3). Used where a copy may fault into userfaultfd-registered memory of this very process: inside a native
    /// call the thread is in preemptive mode, so a garbage collection never waits for a thread blocked on a fault.
    /// </summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "memcpy")]
    internal static partial nint MemCpy(nint destination, nint source, nuint count);
}
