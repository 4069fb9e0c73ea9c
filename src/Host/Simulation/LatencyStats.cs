using System.Diagnostics;

namespace LazyActors.Host.Simulation;

/// <summary>Percentiles of first-touch latencies measured with <see cref="Stopwatch.GetTimestamp"/>.</summary>
internal static class LatencyStats
{
    public static (double P50Us, double P99Us, double MaxUs) Summarize(Span<long> ticks)
    {
        if (ticks.IsEmpty)
        {
            return (0, 0, 0);
        }

        ticks.Sort();
        double ToUs(long t) => t * 1_000_000.0 / Stopwatch.Frequency;
        var p99Index = Math.Min(ticks.Length - 1, (int)((long)ticks.Length * 99 / 100));
        return (ToUs(ticks[ticks.Length / 2]), ToUs(ticks[p99Index]), ToUs(ticks[^1]));
    }
}
