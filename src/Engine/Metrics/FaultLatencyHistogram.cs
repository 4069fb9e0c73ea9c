namespace LazyActors.Engine.Metrics;

/// <summary>
/// Fault latencies of one restore in fixed buckets (upper bounds 10 µs … 100 ms, then one for everything slower):
/// recorded by the task actors with one interlocked increment, read at any time (status page, control API).
/// </summary>
public sealed class FaultLatencyHistogram
{
    /// <summary>Upper bounds of the buckets, in microseconds (the last bucket has none).</summary>
    public static IReadOnlyList<double> BoundsMicroseconds { get; } = [10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000];

    private readonly long[] _counts = new long[BoundsMicroseconds.Count + 1];
    private long _totalTicks;

    /// <summary>Faults recorded.</summary>
    public long Count
    {
        get
        {
            long count = 0;
            for (var i = 0; i < _counts.Length; i++)
            {
                count += Volatile.Read(ref _counts[i]);
            }

            return count;
        }
    }

    /// <summary>Mean latency, or zero without faults.</summary>
    public TimeSpan Mean => Count is var count and > 0 ? TimeSpan.FromTicks(Interlocked.Read(ref _totalTicks) / count) : TimeSpan.Zero;

    /// <summary>Counts per bucket (one more than <see cref="BoundsMicroseconds"/>).</summary>
    public long[] Snapshot()
    {
        var copy = new long[_counts.Length];
        for (var i = 0; i < copy.Length; i++)
        {
            copy[i] = Volatile.Read(ref _counts[i]);
        }

        return copy;
    }

    /// <summary>Adds one fault served after <paramref name="latency"/>.</summary>
    public void Record(TimeSpan latency)
    {
        var micros = latency.TotalMicroseconds;
        var bucket = 0;
        while (bucket < BoundsMicroseconds.Count && micros > BoundsMicroseconds[bucket])
        {
            bucket++;
        }

        Interlocked.Increment(ref _counts[bucket]);
        Interlocked.Add(ref _totalTicks, latency.Ticks);
    }

    /// <summary>The non-empty buckets as "≤BOUND:COUNT" (µs; the last as "&gt;BOUND"), and the mean, for a log line.</summary>
    public string Describe()
    {
        var counts = Snapshot();
        var parts = new List<string>(counts.Length + 1);
        for (var i = 0; i < counts.Length; i++)
        {
            if (counts[i] > 0)
            {
                var bound = i < BoundsMicroseconds.Count ? $"<={BoundsMicroseconds[i]:0}" : $">{BoundsMicroseconds[^1]:0}";
                parts.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bound}:{counts[i]}"));
            }
        }

        parts.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"mean {Mean.TotalMicroseconds:0.0}"));
        return string.Join(' ', parts);
    }
}
