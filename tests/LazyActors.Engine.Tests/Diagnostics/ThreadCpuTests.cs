using System.Diagnostics;
using LazyActors.Engine.Diagnostics;
using Xunit;

namespace LazyActors.Engine.Tests.Diagnostics;

public sealed class ThreadCpuTests
{
    [Fact]
    public void A_named_thread_that_computed_shows_its_CPU_under_its_name_and_the_process_total_is_at_least_as_large()
    {
        // A thread that stays on the CPU for 150 ms, then waits (alive) until the snapshot is taken.
        const string name = "la-cpu-probe";
        using var measured = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var thread = new Thread(Compute) { IsBackground = true, Name = name };
        thread.Start();
        try
        {
            Assert.True(measured.Wait(TimeSpan.FromSeconds(30)));
            var snapshot = ThreadCpu.Snapshot();

            var group = Assert.Single(snapshot.Groups, g => g.Name == name);
            Assert.Equal(1, group.Threads);
            // On the CPU for 150 ms of wall time; on a loaded machine it may have been preempted for part of it.
            Assert.InRange(group.Cpu, TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(30));
            Assert.True(snapshot.Process >= group.Cpu, $"process {snapshot.Process} < thread {group.Cpu}");
            Assert.Contains($" {name} ", snapshot.Describe(), StringComparison.Ordinal);
            Assert.StartsWith("CPU so far, ms: process ", snapshot.Describe(), StringComparison.Ordinal);
        }
        finally
        {
            release.Set();
            Assert.True(thread.Join(TimeSpan.FromSeconds(30)));
        }

        void Compute()
        {
            var clock = Stopwatch.StartNew();
            var x = 0UL;
            while (clock.ElapsedMilliseconds < 150)
            {
                x = (x * 6364136223846793005UL) + 1442695040888963407UL;
            }

            GC.KeepAlive(x);
            measured.Set();
            release.Wait(TimeSpan.FromSeconds(30));
        }
    }
}
