using System.Diagnostics;
using LazyActors.Engine.Scheduling;
using Xunit;

namespace LazyActors.Engine.Tests.Scheduling;

/// <summary>
/// <see cref="SecondCopierRule"/> on real processes: a spinning process (a program computing on pages it has) keeps its
/// CPU from the second copier with off and following, unless with following it reads in order at the push front; a
/// sleeping one (waiting in a fault) never does; on splits whatever the task does.
/// </summary>
public sealed class SecondCopierRuleTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(SecondCopierWhileTaskRuns.Always, false, true)]
    [InlineData(SecondCopierWhileTaskRuns.Always, true, true)]
    [InlineData(SecondCopierWhileTaskRuns.Never, false, false)]
    [InlineData(SecondCopierWhileTaskRuns.Never, true, false)]
    [InlineData(SecondCopierWhileTaskRuns.WhenFollowing, false, false)]
    [InlineData(SecondCopierWhileTaskRuns.WhenFollowing, true, true)]
    [InlineData(SecondCopierWhileTaskRuns.WhenHeldUp, false, false)]
    [InlineData(SecondCopierWhileTaskRuns.WhenHeldUp, true, true)]
    public void A_running_task_gets_the_second_copier_as_the_mode_says(SecondCopierWhileTaskRuns mode, bool following, bool splits)
    {
        using var spinner = Start("while :; do :; done");
        try
        {
            using var running = TaskRunState.Open(spinner.Id);
            Thread.Sleep(200); // past exec
            // Runnable whether or not it has a CPU this instant; a sample in the shell's loop may be preempted, so the
            // majority of samples decides.
            var split = Enumerable.Range(0, 20).Count(_ => SecondCopierRule.MaySplit(mode, following, running));
            Assert.True(splits ? split >= 18 : split <= 2, $"{mode}, following {following}: split in {split} of 20 samples");
        }
        finally
        {
            Stop(spinner);
        }
    }

    [Theory]
    [InlineData(SecondCopierWhileTaskRuns.Always)]
    [InlineData(SecondCopierWhileTaskRuns.Never)]
    [InlineData(SecondCopierWhileTaskRuns.WhenFollowing)]
    [InlineData(SecondCopierWhileTaskRuns.WhenHeldUp)]
    public void A_sleeping_task_or_one_without_a_run_state_always_gets_it(SecondCopierWhileTaskRuns mode)
    {
        using var sleeper = Start("exec sleep 30");
        try
        {
            using var sleeping = TaskRunState.Open(sleeper.Id);
            Thread.Sleep(200);
            Assert.True(SecondCopierRule.MaySplit(mode, followingFront: false, sleeping));
            Assert.True(SecondCopierRule.MaySplit(mode, followingFront: false, runState: null));
        }
        finally
        {
            Stop(sleeper);
        }
    }

    private static Process Start(string script)
    {
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(script);
        return Process.Start(info) ?? throw new InvalidOperationException("/bin/sh did not start");
    }

    private static void Stop(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill();
        }

        Assert.True(process.WaitForExit(Bound));
    }
}
