using System.Diagnostics;
using LazyActors.Tools.Bench;
using LazyActors.Tools.Simulation;
using Xunit;

namespace LazyActors.Tools.Tests.Simulation;

/// <summary>How a first touch's own wait for a CPU is told apart from the daemon's share.</summary>
public sealed class CpuWaitAttributionTests
{
    [Fact]
    public void Max_excluding_wait_subtracts_each_touch_own_wait()
    {
        var ticksPerUs = Stopwatch.Frequency / 1_000_000.0;
        long Ticks(double us) => (long)(us * ticksPerUs);
        long[] latencies = [Ticks(20_000), Ticks(3_000), Ticks(1)];
        long[] waits = [19_800_000, 0, 0]; // ns: the 20 ms touch spent 19.8 ms runnable without a CPU
        Assert.Equal(3_000, LatencyStats.MaxExcludingWaitUs(latencies, waits), 0);
        Assert.Equal(0, LatencyStats.MaxExcludingWaitUs([], []));
    }

    [SkippableFact]
    public void Run_delay_is_read_for_the_calling_thread_when_accounting_is_on()
    {
        using var accounting = RunDelayAccounting.Enable();
        Skip.If(accounting.Status.StartsWith("unavailable", StringComparison.Ordinal), accounting.Status);
        long first = -1, second = -1;
        var opened = false;
        var thread = new Thread(() =>
        {
            Thread.SpinWait(1_000_000); // run a little first: a thread that never ran reads as all zeros
            using var delay = ThreadRunDelay.TryOpen();
            opened = delay is not null;
            if (delay is not null)
            {
                first = delay.ReadNanoseconds();
                Thread.Sleep(5);
                second = delay.ReadNanoseconds();
            }
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Assert.True(opened, $"accounting is {accounting.Status} but /proc/thread-self/schedstat read as zeros");
        Assert.InRange(first, 0, long.MaxValue);
        Assert.True(second >= first, "run delay is cumulative");
    }

    [SkippableFact]
    public void Accounting_stays_on_until_the_last_user_in_the_process_is_done()
    {
        using var first = RunDelayAccounting.Enable();
        Skip.If(first.Status.StartsWith("unavailable", StringComparison.Ordinal), first.Status);
        var second = RunDelayAccounting.Enable();
        first.Dispose();
        Assert.NotEqual("0", File.ReadAllText("/proc/sys/kernel/task_delayacct").Trim());
        second.Dispose();
        second.Dispose(); // idempotent
    }

    /// <summary>The status names what happened to the kernel's switch, and the switch is back as it was afterwards.</summary>
    [Fact]
    public void Accounting_switch_reports_what_it_did_and_puts_it_back()
    {
        const string path = "/proc/sys/kernel/task_delayacct";
        var before = File.Exists(path) ? File.ReadAllText(path).Trim() : null;
        using (var accounting = RunDelayAccounting.Enable())
        {
            var now = File.Exists(path) ? File.ReadAllText(path).Trim() : null;
            if (before is null)
            {
                Assert.Equal($"unavailable: {path} does not exist", accounting.Status);
            }
            else if (before != "0")
            {
                Assert.Equal("already on", accounting.Status);
                Assert.Equal(before, now);
            }
            else if (accounting.Status.StartsWith("unavailable: ", StringComparison.Ordinal))
            {
                Assert.Contains(path, accounting.Status);
                Assert.Equal("0", now); // refused: nothing changed
            }
            else
            {
                Assert.Equal("on for this run (restored afterwards)", accounting.Status);
                Assert.Equal("1", now);
            }
        }

        Assert.Equal(before, File.Exists(path) ? File.ReadAllText(path).Trim() : null);
    }
}
