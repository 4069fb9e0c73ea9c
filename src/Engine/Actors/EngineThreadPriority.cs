using LazyActors.Engine.Scheduling;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Gives the engine's dispatcher threads the configured nice value, once per thread, the first time an engine actor
/// runs on it (Akka creates the dedicated threads lazily and offers no start hook). Faults are served on these threads:
/// at the restored tasks' own priority they would queue behind every busy task on a small machine.
/// </summary>
internal static class EngineThreadPriority
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Style", "IDE1006", Justification = "t_ marks a [ThreadStatic] field; naming rules cannot tell it from other statics")]
    [ThreadStatic]
    private static bool t_applied;

    private static int s_nice = int.MinValue;

    /// <summary>Sets the nice value for engine threads of this process; <see cref="int.MinValue"/> = leave them alone.</summary>
    public static void Configure(int niceValue) => Volatile.Write(ref s_nice, niceValue);

    /// <summary>Applies the configured value to the calling thread if not done yet (best effort).</summary>
    public static void EnsureApplied()
    {
        if (t_applied)
        {
            return;
        }

        t_applied = true;
        var nice = Volatile.Read(ref s_nice);
        if (nice != int.MinValue)
        {
            _ = ThreadScheduling.TrySetNice(nice);
        }

        // During a start-up held below the restorer the thread starts SCHED_IDLE (its nice value counts again once
        // StartUpPriority ends and raises it).
        StartUpPriority.LowerCallingThread();
    }
}
