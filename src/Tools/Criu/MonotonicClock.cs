namespace LazyActors.Tools.Criu;

/// <summary>
/// CLOCK_MONOTONIC in nanoseconds: the clock the reaper and the workloads stamp their events with (the workloads
/// convert from the time namespace CRIU restores them in), so the harness can subtract their stamps from its own.
/// </summary>
public static class MonotonicClock
{
    /// <summary>The current CLOCK_MONOTONIC time, ns.</summary>
    public static unsafe long NowNs()
    {
        CriuNative.Timespec now;
        if (CriuNative.ClockGetTime(CriuNative.ClockMonotonic, &now) != 0)
        {
            Engine.Interop.LinuxException.ThrowLast("clock_gettime(CLOCK_MONOTONIC)");
        }

        return (now.Seconds * 1_000_000_000L) + now.Nanoseconds;
    }

    /// <summary>Seconds from <paramref name="fromNs"/> to <paramref name="toNs"/>.</summary>
    public static double Seconds(long fromNs, long toNs) => (toNs - fromNs) / 1e9;
}
