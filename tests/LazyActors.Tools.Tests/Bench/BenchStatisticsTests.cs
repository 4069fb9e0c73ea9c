using LazyActors.Tools.Bench;
using Xunit;

namespace LazyActors.Tools.Tests.Bench;

public sealed class BenchStatisticsTests
{
    [Fact]
    public void Summarize_odd_count_takes_middle_value_and_range()
    {
        var s = BenchStatistics.Summarize([5.0, 1.0, 3.0]);
        Assert.Equal(new MetricSummary(3.0, 1.0, 5.0, 3), s);
    }

    [Fact]
    public void Summarize_even_count_averages_the_two_middle_values()
    {
        var s = BenchStatistics.Summarize([4.0, 1.0, 2.0, 10.0]);
        Assert.Equal(3.0, s.Median);
        Assert.Equal(1.0, s.Min);
        Assert.Equal(10.0, s.Max);
        Assert.Equal(4, s.Count);
    }

    [Fact]
    public void Summarize_ignores_NaN_and_empty_gives_Empty()
    {
        Assert.Equal(new MetricSummary(2.0, 2.0, 2.0, 1), BenchStatistics.Summarize([double.NaN, 2.0]));
        var empty = BenchStatistics.Summarize([double.NaN]);
        Assert.False(empty.HasValue);
        Assert.Same(MetricSummary.Empty, empty);
    }

    [Theory]
    [InlineData(50, 50)]
    [InlineData(99, 99)]
    [InlineData(100, 100)]
    [InlineData(0.5, 1)]
    [InlineData(99.5, 100)]
    public void Percentile_is_nearest_rank_over_1_to_100(double percent, long expected)
    {
        var values = Enumerable.Range(1, 100).Select(i => (long)i).ToArray();
        Assert.Equal(expected, BenchStatistics.Percentile(values, percent));
    }

    [Fact]
    public void Percentile_of_one_value_is_that_value_and_bad_input_throws()
    {
        Assert.Equal(7, BenchStatistics.Percentile(new long[] { 7 }, 99));
        Assert.Throws<ArgumentException>(() => BenchStatistics.Percentile(ReadOnlySpan<long>.Empty, 50));
        Assert.Throws<ArgumentOutOfRangeException>(() => BenchStatistics.Percentile(new long[] { 1 }, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => BenchStatistics.Percentile(new long[] { 1 }, 101));
    }

    [Fact]
    public void Ratio_is_NaN_when_an_operand_is_missing_or_denominator_not_positive()
    {
        Assert.Equal(0.5, BenchStatistics.Ratio(1, 2));
        Assert.True(double.IsNaN(BenchStatistics.Ratio(double.NaN, 2)));
        Assert.True(double.IsNaN(BenchStatistics.Ratio(1, double.NaN)));
        Assert.True(double.IsNaN(BenchStatistics.Ratio(1, 0)));
    }
}
