using System.Globalization;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Scheduling;

/// <summary>
/// Every thread of this process at once. Linux schedules threads, not processes: a policy or nice value set on the
/// process id changes its first thread only, and a new thread inherits its creator's, so "the whole daemon below the
/// restored program" means each thread of <c>/proc/self/task</c>. Only for a process the engine owns (the one-shot
/// daemon, <see cref="Configuration.EngineSettings.OwnsProcess"/>): in a host or a test process these calls would
/// reach threads that are not the engine's. Best effort: a thread that ends meanwhile is skipped.
/// </summary>
internal static class ProcessThreads
{
    /// <summary>The kernel ids of this process's live threads (none when /proc cannot be read).</summary>
    public static IReadOnlyList<int> Ids()
    {
        try
        {
            return Directory.GetDirectories("/proc/self/task")
                .Select(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var tid) ? tid : 0)
                .Where(tid => tid > 0)
                .ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>The scheduling policy of thread <paramref name="tid"/> (<see cref="Libc.SCHED_OTHER"/>, ...), or -1 when gone.</summary>
    public static int PolicyOf(int tid) => Libc.SchedGetScheduler(tid);

    /// <summary>Makes thread <paramref name="tid"/> SCHED_IDLE; false when refused or gone.</summary>
    public static unsafe bool TrySetIdle(int tid)
    {
        var param = 0;
        return Libc.SchedSetScheduler(tid, Libc.SCHED_IDLE, &param) == 0;
    }

    /// <summary>
    /// Every SCHED_IDLE thread back to SCHED_OTHER (each keeps its nice value, so engine threads are at
    /// <c>engine-threads-nice</c> again at once); returns how many were raised and how many the kernel refused.
    /// </summary>
    public static unsafe (int Raised, int Refused) RaiseIdleToNormal()
    {
        var raised = 0;
        var refused = 0;
        foreach (var tid in Ids())
        {
            var param = 0;
            if (PolicyOf(tid) != Libc.SCHED_IDLE)
            {
                continue;
            }

            if (Libc.SchedSetScheduler(tid, Libc.SCHED_OTHER, &param) == 0)
            {
                raised++;
            }
            else if (PolicyOf(tid) >= 0)
            {
                refused++; // not a thread that ended meanwhile
            }
        }

        return (raised, refused);
    }

    /// <summary>
    /// Every thread to SCHED_OTHER at nice <paramref name="niceValue"/> (a real-time thread drops to SCHED_OTHER first);
    /// returns how many were lowered.
    /// </summary>
    public static unsafe int LowerAll(int niceValue)
    {
        var lowered = 0;
        foreach (var tid in Ids())
        {
            var param = 0;
            if (PolicyOf(tid) is var policy && policy >= 0 && policy != Libc.SCHED_OTHER)
            {
                _ = Libc.SchedSetScheduler(tid, Libc.SCHED_OTHER, &param);
            }

            if (Libc.SetPriority(Libc.PRIO_PROCESS, (uint)tid, niceValue) == 0)
            {
                lowered++;
            }
        }

        return lowered;
    }
}
