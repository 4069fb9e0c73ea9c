using LazyActors.Engine.Images;
using LazyActors.Tools.Simulation;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Testing;

/// <summary>What every end-to-end test around the restore simulator needs: fixture skips and readable output.</summary>
public static class SimulatorTestSupport
{
    /// <summary>Skips fixtures whose lazy pages live only on the source's page server (a <c>dump --lazy-pages</c>).</summary>
    public static void SkipIfLazyDataIsRemote(string fixture, string images)
    {
        using var checkpoint = Checkpoint.Open(images);
        var remoteOnly = checkpoint.Tasks.Sum(t => (long)TaskMemoryPlan.For(t).RemoteOnlyPages);
        Skip.If(remoteOnly > 0, $"{fixture} is a `dump --lazy-pages` image set: its {remoteOnly} lazy pages live only on the source's page server");
    }

    /// <summary>One line per simulated process.</summary>
    public static void WriteTasks(ITestOutputHelper output, SimReport report)
    {
        foreach (var t in report.Tasks)
        {
            output.WriteLine($"pid {t.Pid} {t.Role}: {t.Pages} pages, touch {t.TouchMs:0.0} ms, p50 {t.P50Us:0.0} us, p99 {t.P99Us:0.0} us, max {t.MaxUs:0} us, verified {t.BytesVerified} B, mismatches {t.Mismatches} {t.Error}");
        }
    }

    /// <summary>
    /// The restore succeeded and every simulated process verified each of its pages, no word wrong; <paramref name="which"/>
    /// names the restore in the failure message where a test runs several.
    /// </summary>
    public static void AssertEveryPageVerified(SimReport report, string? which = null)
    {
        Assert.True(report.Ok, which is null ? report.Error : $"{which}: {report.Error}");
        Assert.All(report.Tasks, t => Assert.Equal(0, t.Mismatches));
        Assert.All(report.Tasks, t => Assert.Equal(t.Pages * 4096L, t.BytesVerified));
    }
}
