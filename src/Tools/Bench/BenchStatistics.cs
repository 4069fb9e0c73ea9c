namespace LazyActors.Tools.Bench;

/// <summary>Medians, nearest-rank percentiles and run summaries used by the probes and the bench table.</summary>
public static class BenchStatistics
{
    /// <summary>Median and min–max of <paramref name="values"/>, ignoring NaN; <see cref="MetricSummary.Empty"/> if none.</summary>
    public static MetricSummary Summarize(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        if (sorted.Length == 0)
        {
            return MetricSummary.Empty;
        }

        return new MetricSummary(Median(sorted), sorted[0], sorted[^1], sorted.Length);
    }

    /// <summary>Median of an ascending array (mean of the two middle values for an even length).</summary>
    public static double Median(ReadOnlySpan<double> sorted)
    {
        if (sorted.IsEmpty)
        {
            throw new ArgumentException("The median of no values is undefined.", nameof(sorted));
        }

        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>
    /// Nearest-rank percentile of an ascending span: the smallest value such that at least
    /// <paramref name="percent"/> % of the values are at or below it (p50 of 1..100 is 50, p99 is 99, p100 the maximum).
    /// </summary>
    public static long Percentile(ReadOnlySpan<long> sorted, double percent)
    {
        if (sorted.IsEmpty)
        {
            throw new ArgumentException("The percentile of no values is undefined.", nameof(sorted));
        }

        if (percent is <= 0 or > 100 || double.IsNaN(percent))
        {
            throw new ArgumentOutOfRangeException(nameof(percent), percent, "A percentile lies in (0, 100].");
        }

        long rank = (long)Math.Ceiling(percent / 100.0 * sorted.Length);
        return sorted[(int)Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary><paramref name="numerator"/> / <paramref name="denominator"/>, or NaN when either is missing or the denominator is not positive.</summary>
    public static double Ratio(double numerator, double denominator) =>
        double.IsNaN(numerator) || double.IsNaN(denominator) || denominator <= 0 ? double.NaN : numerator / denominator;
}
