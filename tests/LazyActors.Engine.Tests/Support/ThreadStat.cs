namespace LazyActors.Engine.Tests.Support;

/// <summary>The calling thread's scheduling as the kernel reports it in /proc/thread-self/stat.</summary>
internal static class ThreadStat
{
    /// <summary>Scheduling policy (field 41: 0 = SCHED_OTHER, 1 = SCHED_FIFO) and nice value (field 19).</summary>
    public static (int Policy, int Nice) Current()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        // After "pid (comm) " the fields start at number 3: field N is at index N - 3.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (int.Parse(fields[41 - 3]), int.Parse(fields[19 - 3]));
    }
}
