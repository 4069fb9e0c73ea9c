using LazyActors.Testing;
using LazyActors.Tools.Bench;
using Xunit;

namespace LazyActors.Tools.Tests.Bench;

public sealed class ProbeSuiteTests
{
    [SkippableFact]
    public void Probes_with_tiny_sizes_report_every_figure()
    {
        Skip.If(UffdAvailability.BasicReason is not null, UffdAvailability.BasicReason);
        var settings = new ProbeSettings
        {
            Chunks = [4096, 64 << 10],
            RegionBytes = 1 << 20,
            Repetitions = 2,
            RoundTripPages = 64,
            RoundTripPasses = 2,
            Timeout = TimeSpan.FromSeconds(20),
        };
        var lines = new List<string>();
        var report = ProbeSuite.Run(settings, lines.Add);

        Assert.Null(report.Error);
        Assert.Equal([4096, 64 << 10], report.CopyBandwidth.Select(c => c.ChunkBytes));
        Assert.All(report.CopyBandwidth, c => Assert.Equal(2, c.GBps.Count));
        Assert.All(report.CopyBandwidth, c => Assert.True(c.GBps.Min > 0));
        Assert.Equal(2, report.RoundTripP50Us.Count);
        Assert.True(report.RoundTripP50Us.Median > 0);
        Assert.True(report.RoundTripP99Us.Median >= report.RoundTripP50Us.Median);
        Assert.True(report.RoundTripMaxUs.Median >= report.RoundTripP99Us.Median);
        Assert.Equal(2, report.SameCpuP50Us.Count);
        Assert.Equal(Environment.ProcessorCount >= 2 ? 2 : 0, report.CrossCpuP50Us.Count);
        Assert.Equal(report.CopyBandwidth[^1].GBps.Median * 1e9, report.LargestChunkBytesPerSecond);
        Assert.Contains(lines, l => l.Contains("warm-up", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void Round_trip_serves_every_touched_page_with_the_source_bytes()
    {
        Skip.If(UffdAvailability.BasicReason is not null, UffdAvailability.BasicReason);
        var latencies = FaultRoundTripProbe.Measure(32, TimeSpan.FromSeconds(20), CpuPlacement.SameCpu);
        Assert.Equal(32, latencies.Length);
        Assert.All(latencies, t => Assert.True(t > 0));
    }

    [Fact]
    public void Copy_probe_rejects_sizes_that_are_not_page_multiples()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CopyBandwidthProbe.Measure(1000, 1 << 20, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => CopyBandwidthProbe.Measure(8192, 12288, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => CopyBandwidthProbe.Measure(4096, 4096, 0));
    }

    [Theory]
    [InlineData(4096L, "4 KiB")]
    [InlineData(65536L, "64 KiB")]
    [InlineData(4194304L, "4 MiB")]
    [InlineData(1073741824L, "1 GiB")]
    [InlineData(1000L, "1000 B")]
    public void FormatSize_uses_binary_units(long bytes, string expected) => Assert.Equal(expected, ProbeSuite.FormatSize(bytes));
}
