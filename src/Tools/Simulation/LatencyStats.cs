using System.Diagnostics;
using LazyActors.Tools.Bench;

namespace LazyActors.Tools.Simulation;

/// <summary>
/// Percentiles of first-touch latencies measured with <see cref="Stopwatch.GetTimestamp"/>, with the same nearest-rank
/// definition the bench's probes use (<see cref="BenchStatistics.Percentile"/>), so scenario figures and the raw
/// round trip they are compared with are computed alike.
/// </summary>
internal static class LatencyStats
{
    public static (double P50Us, double P99Us, double MaxUs) Summarize(Span<long> ticks)
    {
        if (ticks.IsEmpty)
        {
            return (0, 0, 0);
        }

        ticks.Sort();
        static double ToUs(long t) => t * 1_000_000.0 / Stopwatch.Frequency;
        return (ToUs(BenchStatistics.Percentile(ticks, 50)), ToUs(BenchStatistics.Percentile(ticks, 99)), ToUs(ticks[^1]));
    }

    /// <summary>
    /// The largest <c>latency − own CPU wait</c> over all touches (<paramref name="ticks"/> in Stopwatch ticks,
    /// <paramref name="cpuWaitNs"/> in nanoseconds, same indices), in microseconds.
    /// </summary>
    public static double MaxExcludingWaitUs(ReadOnlySpan<long> ticks, ReadOnlySpan<long> cpuWaitNs)
    {
        var nsPerTick = 1e9 / Stopwatch.Frequency;
        double max = 0;
        for (var i = 0; i < ticks.Length; i++)
        {
            max = Math.Max(max, ticks[i] * nsPerTick - cpuWaitNs[i]);
        }

        return max / 1e3;
    }
}
