using System.Diagnostics;
using LazyActors.Host.Bench;

namespace LazyActors.Host.Simulation;

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
}
