using System.Diagnostics;

namespace LazyActors.Engine.Restorer;

/// <summary>A point in time measured on the monotonic clock, for waits that loop.</summary>
internal readonly struct Deadline
{
    private static readonly double MaxTicks = 100.0 * 365 * 24 * 3600 * Stopwatch.Frequency;

    private readonly long _endTimestamp;

    private Deadline(long endTimestamp) => _endTimestamp = endTimestamp;

    /// <summary>A deadline <paramref name="timeout"/> from now (negative timeouts count as zero).</summary>
    public static Deadline After(TimeSpan timeout)
    {
        // Cap at ~a century of ticks so TimeSpan.MaxValue cannot overflow the timestamp arithmetic.
        var ticks = Math.Clamp(timeout.TotalSeconds * Stopwatch.Frequency, 0, MaxTicks);
        return new Deadline(Stopwatch.GetTimestamp() + (long)ticks);
    }

    /// <summary>Time left, never negative.</summary>
    public TimeSpan Remaining
    {
        get
        {
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), _endTimestamp);
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Time left in whole milliseconds, rounded up, capped at int.MaxValue.</summary>
    public int RemainingMilliseconds => (int)Math.Min(int.MaxValue, Math.Ceiling(Remaining.TotalMilliseconds));
}
