using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

internal static partial class Libc
{
    /// <summary><c>which</c> of setpriority(2): a process or, with a thread id, one thread.</summary>
    internal const int PRIO_PROCESS = 0;

    /// <summary>setpriority(2): on Linux, with PRIO_PROCESS and a thread id, sets that thread's nice value.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "setpriority", SetLastError = true)]
    internal static partial int SetPriority(int which, uint who, int niceValue);

    /// <summary>getpriority(2): with PRIO_PROCESS and a thread id, that thread's nice value (errno tells -1 from an error).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "getpriority", SetLastError = true)]
    internal static partial int GetPriority(int which, uint who);

    /// <summary>gettid(2): the calling thread's kernel id.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "gettid")]
    internal static partial int GetTid();

    /// <summary>SCHED_OTHER: the normal time-sharing policy (the nice value is kept across changes).</summary>
    internal const int SCHED_OTHER = 0;

    /// <summary>SCHED_FIFO: real-time, runs until it blocks or a higher real-time priority wakes.</summary>
    internal const int SCHED_FIFO = 1;

    /// <summary>SCHED_IDLE: runs only when no other (non-idle) thread wants the CPU; the nice value is kept for later.</summary>
    internal const int SCHED_IDLE = 5;

    /// <summary>
    /// sched_setscheduler(2) for one thread (<paramref name="tid"/>); <paramref name="param"/> points to a
    /// <c>struct sched_param</c>, which is a single int (the priority, 1–99 for SCHED_FIFO).
    /// </summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sched_setscheduler", SetLastError = true)]
    internal static unsafe partial int SchedSetScheduler(int tid, int policy, int* param);

    /// <summary>sched_getscheduler(2) for one thread (<paramref name="tid"/>): its policy, or -1 (errno) when gone.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sched_getscheduler", SetLastError = true)]
    internal static partial int SchedGetScheduler(int tid);
}
