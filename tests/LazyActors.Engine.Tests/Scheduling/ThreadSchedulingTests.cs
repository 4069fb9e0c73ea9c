using LazyActors.Engine.Interop;
using LazyActors.Engine.Scheduling;
using LazyActors.Engine.Tests.Support;
using Xunit;

namespace LazyActors.Engine.Tests.Scheduling;

public sealed class ThreadSchedulingTests
{
    [SkippableFact]
    public void Realtime_boost_and_return_keep_the_nice_value_of_the_thread()
    {
        string? skip = null;
        (int Policy, int Nice) boosted = default, returned = default, reniced = default;
        var thread = new Thread(() =>
        {
            if (!ThreadScheduling.TrySetNice(5))
            {
                skip = "setpriority refused";
                return;
            }

            reniced = ThreadStat.Current();
            if (!ThreadScheduling.TrySetRealtime(1))
            {
                skip = "SCHED_FIFO refused (no CAP_SYS_NICE)";
                return;
            }

            boosted = ThreadStat.Current();
            Assert.True(ThreadScheduling.TrySetNormal());
            returned = ThreadStat.Current();
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Skip.If(skip is not null, skip);

        Assert.Equal((0, 5), reniced);
        Assert.Equal(Libc.SCHED_FIFO, boosted.Policy);
        Assert.Equal((Libc.SCHED_OTHER, 5), returned);
    }

    [Fact]
    public void With_CapSysNice_real_time_is_granted()
    {
        var granted = false;
        var thread = new Thread(() =>
        {
            granted = ThreadScheduling.TrySetRealtime(1);
            if (granted)
            {
                ThreadScheduling.TrySetNormal();
            }
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        // With CAP_SYS_NICE real time is granted (without it, RLIMIT_RTPRIO may still allow it).
        Assert.True(!ThreadScheduling.HasCapSysNice() || granted, "CAP_SYS_NICE present but SCHED_FIFO refused");
    }
}
