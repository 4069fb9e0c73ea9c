using System.Diagnostics;
using System.Text.Json;
using LazyActors.Engine.Ranges;
using LazyActors.Tools.Simulation;

namespace LazyActors.Tools.Bench;

/// <summary>
/// The first-touch floor of a scenario on this machine: as many processes as the scenario has tasks run the simulated
/// task's touch loop over as many pages, in the same order, on memory that is already present (no uffd, no daemon),
/// all started together. Its largest touch is what the machine's scheduler alone costs a busy tree of that size; a
/// daemon's first-touch max cannot be below it.
/// </summary>
internal static class SchedulerFloorProbe
{
    /// <summary>Largest first touch of any floor process, and the same less the toucher's own CPU wait (µs, NaN if unknown).</summary>
    public readonly record struct Floor(double MaxUs, double MaxExclCpuWaitUs, string? Error);

    public static Floor Measure(BenchScenario scenario, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        var pages = scenario.BytesPerTask / (long)PageGeometry.PageSize;
        var processes = new List<Process>();
        var outputs = new List<ProcessLines>();
        var clock = Stopwatch.StartNew();
        try
        {
            for (var t = 0; t < scenario.Tasks; t++)
            {
                processes.Add(TaskProcessLauncher.StartFloor(pages, scenario.Touch, seed: 1 + t, timeout));
                outputs.Add(new ProcessLines(processes[^1]));
            }

            foreach (var (process, output) in processes.Zip(outputs))
            {
                var line = output.Next(Remaining(timeout, clock));
                if (line != FloorTask.ReadyLine)
                {
                    return new Floor(double.NaN, double.NaN, $"floor process {process.Id} did not get ready: {line ?? "no answer"} {process.StandardError.ReadToEnd()}".Trim());
                }
            }

            foreach (var process in processes)
            {
                process.StandardInput.WriteLine("go");
                process.StandardInput.Flush();
            }

            var results = new List<FloorResult>();
            foreach (var (process, output) in processes.Zip(outputs))
            {
                var line = output.Next(Remaining(timeout, clock));
                var result = line is null ? null : JsonSerializer.Deserialize(line, FloorJsonContext.Default.FloorResult);
                if (result is null)
                {
                    return new Floor(double.NaN, double.NaN, $"floor process {process.Id} gave no result");
                }

                results.Add(result);
            }

            var excl = results.All(r => r.MaxExclCpuWaitUs is not null) ? results.Max(r => r.MaxExclCpuWaitUs!.Value) : double.NaN;
            return new Floor(results.Max(r => r.MaxUs), excl, null);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or JsonException or System.ComponentModel.Win32Exception)
        {
            return new Floor(double.NaN, double.NaN, $"floor probe failed: {ex.Message}");
        }
        finally
        {
            foreach (var process in processes)
            {
                Reap(process);
            }

            foreach (var output in outputs)
            {
                output.Dispose();
            }
        }
    }

    private static TimeSpan Remaining(TimeSpan timeout, Stopwatch clock)
    {
        var left = timeout - clock.Elapsed;
        return left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1);
    }

    /// <summary>Waits briefly for a process to exit, kills it (by pid) if it does not, and always reaps it.</summary>
    private static void Reap(Process process)
    {
        using (process)
        {
            try
            {
                process.StandardInput.Close();
                if (!process.WaitForExit(TimeSpan.FromSeconds(5)))
                {
                    process.Kill();
                }

                process.WaitForExit();
            }
            catch (InvalidOperationException)
            {
                // never started or already reaped
            }
        }
    }
}
