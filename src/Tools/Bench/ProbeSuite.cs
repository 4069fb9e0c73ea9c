using System.Diagnostics;
using LazyActors.Engine.Interop;

namespace LazyActors.Tools.Bench;

/// <summary>Runs the limit probes (<see cref="CopyBandwidthProbe"/>, <see cref="FaultRoundTripProbe"/>) and summarises them.</summary>
public static class ProbeSuite
{
    /// <summary>
    /// Measures every probe. When the kernel refuses userfaultfd the report carries the reason in
    /// <see cref="ProbeReport.Error"/> instead of figures.
    /// </summary>
    public static ProbeReport Run(ProbeSettings settings, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        try
        {
            if (settings.WarmUp)
            {
                progress?.Invoke("probes: warm-up");
                foreach (int chunk in settings.Chunks)
                {
                    CopyBandwidthProbe.Measure(chunk, Math.Max(chunk, 4L << 20) / chunk * chunk, 1);
                }

                FaultRoundTripProbe.Measure(Math.Min(256, settings.RoundTripPages), settings.Timeout);
            }

            var bandwidth = new List<CopyBandwidthResult>();
            foreach (int chunk in settings.Chunks.Order())
            {
                progress?.Invoke($"probes: UFFDIO_COPY {FormatSize(chunk)} chunks x {settings.Repetitions}");
                var bytesPerSecond = CopyBandwidthProbe.Measure(chunk, settings.RegionBytes, settings.Repetitions);
                bandwidth.Add(new CopyBandwidthResult(chunk, BenchStatistics.Summarize(bytesPerSecond.Select(b => b / 1e9))));
            }

            var p50 = new List<double>();
            var p99 = new List<double>();
            var max = new List<double>();
            for (int pass = 0; pass < settings.RoundTripPasses; pass++)
            {
                progress?.Invoke($"probes: fault round trip pass {pass + 1}/{settings.RoundTripPasses} ({settings.RoundTripPages} faults)");
                var ticks = FaultRoundTripProbe.Measure(settings.RoundTripPages, settings.Timeout);
                Array.Sort(ticks);
                p50.Add(TicksToMicroseconds(BenchStatistics.Percentile(ticks, 50)));
                p99.Add(TicksToMicroseconds(BenchStatistics.Percentile(ticks, 99)));
                max.Add(TicksToMicroseconds(ticks[^1]));
            }

            var same = new List<double>();
            var cross = new List<double>();
            if (settings.PinnedRoundTrips)
            {
                foreach (var (placement, into) in new[] { (CpuPlacement.SameCpu, same), (CpuPlacement.CrossCpu, cross) })
                {
                    if (ThreadAffinity.CpusFor(placement) is null)
                    {
                        continue;
                    }

                    for (int pass = 0; pass < settings.RoundTripPasses; pass++)
                    {
                        progress?.Invoke($"probes: fault round trip {placement} pass {pass + 1}/{settings.RoundTripPasses}");
                        var ticks = FaultRoundTripProbe.Measure(settings.RoundTripPages, settings.Timeout, placement);
                        Array.Sort(ticks);
                        into.Add(TicksToMicroseconds(BenchStatistics.Percentile(ticks, 50)));
                    }
                }
            }

            return new ProbeReport
            {
                SameCpuP50Us = BenchStatistics.Summarize(same),
                CrossCpuP50Us = BenchStatistics.Summarize(cross),
                CopyBandwidth = bandwidth,
                RoundTripP50Us = BenchStatistics.Summarize(p50),
                RoundTripP99Us = BenchStatistics.Summarize(p99),
                RoundTripMaxUs = BenchStatistics.Summarize(max),
            };
        }
        catch (LinuxException ex)
        {
            return new ProbeReport { Error = $"userfaultfd probe refused by the kernel: {ex.Message}" };
        }
        catch (TimeoutException ex)
        {
            // A saturated machine (other builds and benches on the same CPUs): the probe's figures are missing from the
            // table, the scenarios still run.
            return new ProbeReport { Error = $"a probe did not finish: {ex.Message}" };
        }
    }

    /// <summary>Stopwatch ticks to microseconds.</summary>
    public static double TicksToMicroseconds(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;

    /// <summary>4096 → "4 KiB", 1048576 → "1 MiB".</summary>
    public static string FormatSize(long bytes) => bytes switch
    {
        >= 1 << 30 when bytes % (1 << 30) == 0 => $"{bytes >> 30} GiB",
        >= 1 << 20 when bytes % (1 << 20) == 0 => $"{bytes >> 20} MiB",
        >= 1 << 10 when bytes % (1 << 10) == 0 => $"{bytes >> 10} KiB",
        _ => $"{bytes} B",
    };
}
