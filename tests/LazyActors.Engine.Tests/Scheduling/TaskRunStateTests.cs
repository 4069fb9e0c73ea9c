using System.Diagnostics;
using System.Text;
using LazyActors.Engine.Scheduling;
using Xunit;

namespace LazyActors.Engine.Tests.Scheduling;

/// <summary>
/// <see cref="TaskRunState"/> on real processes: a process that sleeps is not running, one that spins is (on a CPU or
/// waiting for one), a process that is gone is not, and the state letter is found after a command holding ") ".
/// </summary>
public sealed class TaskRunStateTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData("1234 (python3) S 1 2 3", 'S')]
    [InlineData("1234 (a) R (b) R 1 2", 'R')]
    [InlineData("77 (x) D 1", 'D')]
    [InlineData("77 (x)", '\0')]
    [InlineData("", '\0')]
    public void The_state_is_the_letter_after_the_last_parenthesis(string line, char state) =>
        Assert.Equal(state, TaskRunState.StateOf(Encoding.ASCII.GetBytes(line)));

    [Fact]
    public void A_sleeping_process_is_not_running_and_a_spinning_one_is()
    {
        using var sleeper = Start("exec sleep 30");
        using var spinner = Start("while :; do :; done");
        try
        {
            using var sleeping = TaskRunState.Open(sleeper.Id);
            using var spinning = TaskRunState.Open(spinner.Id);
            Thread.Sleep(200); // both past exec
            var sleeperRan = 0;
            var spinnerRan = 0;
            for (var i = 0; i < 50; i++)
            {
                sleeperRan += sleeping.IsRunning() ? 1 : 0;
                spinnerRan += spinning.IsRunning() ? 1 : 0;
                Thread.Sleep(2);
            }

            Assert.Equal(0, sleeperRan);
            // Runnable whether or not it has a CPU this instant: every sample, barring a preemption in the shell's loop.
            Assert.True(spinnerRan >= 45, $"the spinning process was running in {spinnerRan} of 50 samples");
        }
        finally
        {
            Stop(sleeper);
            Stop(spinner);
        }

        using var gone = TaskRunState.Open(spinner.Id);
        Assert.False(gone.IsRunning());
    }

    [Fact]
    public void A_process_that_is_not_there_is_not_running()
    {
        using var state = TaskRunState.Open(int.MaxValue);
        Assert.False(state.IsRunning());
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
