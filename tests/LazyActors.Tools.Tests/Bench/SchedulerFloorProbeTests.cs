using LazyActors.Tools.Bench;
using LazyActors.Tools.Simulation;
using Xunit;

namespace LazyActors.Tools.Tests.Bench;

public sealed class SchedulerFloorProbeTests
{
    [Fact]
    public void Floor_runs_one_process_per_task_on_present_memory_and_reaps_them()
    {
        var scenario = new BenchScenario("floor-test", "2 tasks x 2 MiB", 2, 2 << 20, TouchOrder.Rand);
        var before = FloorProcesses();
        var floor = SchedulerFloorProbe.Measure(scenario, TimeSpan.FromSeconds(60));

        Assert.Null(floor.Error);
        Assert.True(floor.MaxUs > 0 && floor.MaxUs < 60_000_000, $"max {floor.MaxUs} us");
        Assert.True(double.IsNaN(floor.MaxExclCpuWaitUs) || floor.MaxExclCpuWaitUs <= floor.MaxUs);
        Assert.Equal(before, FloorProcesses());
    }

    private static int FloorProcesses() =>
        Directory.EnumerateDirectories("/proc")
            .Select(d => Path.Combine(d, "cmdline"))
            .Count(path =>
            {
                try
                {
                    return File.Exists(path) && File.ReadAllText(path).Contains("touch-floor-task", StringComparison.Ordinal);
                }
                catch (IOException)
                {
                    return false;
                }
                catch (UnauthorizedAccessException)
                {
                    return false;
                }
            });
}
