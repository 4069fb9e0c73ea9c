using System.Runtime.InteropServices;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Scheduling;

/// <summary>
/// Best-effort scheduling of the calling thread (Linux: nice values and policies are per thread). Lowering a nice
/// value below 0 or choosing a real-time policy needs CAP_SYS_NICE; without it the calls fail and change nothing.
/// </summary>
internal static class ThreadScheduling
{
    /// <summary>Sets the calling thread's nice value; false (errno kept) when refused.</summary>
    public static bool TrySetNice(int niceValue) => Libc.SetPriority(Libc.PRIO_PROCESS, (uint)Libc.GetTid(), niceValue) == 0;

    /// <summary>Makes the calling thread SCHED_FIFO with <paramref name="priority"/> (1–99); false when refused.</summary>
    public static bool TrySetRealtime(int priority) => TrySetRealtime(Libc.GetTid(), priority);

    /// <summary>Makes thread <paramref name="tid"/> SCHED_FIFO with <paramref name="priority"/>; false when refused or gone.</summary>
    public static unsafe bool TrySetRealtime(int tid, int priority)
    {
        var param = priority;
        return Libc.SchedSetScheduler(tid, Libc.SCHED_FIFO, &param) == 0;
    }

    /// <summary>The calling thread's nice value; false when it cannot be read.</summary>
    public static bool TryGetNice(out int niceValue)
    {
        Marshal.SetLastPInvokeError(0);
        niceValue = Libc.GetPriority(Libc.PRIO_PROCESS, (uint)Libc.GetTid());
        // getpriority returns the nice value itself, so -1 is an error only when errno says so.
        return niceValue != -1 || Marshal.GetLastPInvokeError() == 0;
    }

    /// <summary>Makes the calling thread SCHED_IDLE (no privilege needed); false when refused.</summary>
    public static unsafe bool TrySetIdle()
    {
        var param = 0;
        return Libc.SchedSetScheduler(Libc.GetTid(), Libc.SCHED_IDLE, &param) == 0;
    }

    /// <summary>Returns the calling thread to SCHED_OTHER (its nice value is kept); false when refused.</summary>
    public static unsafe bool TrySetNormal()
    {
        var param = 0;
        return Libc.SchedSetScheduler(Libc.GetTid(), Libc.SCHED_OTHER, &param) == 0;
    }
}
