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
    public void The_grants_probe_answers_what_a_fresh_thread_is_granted()
    {
        (bool NegativeNice, bool Realtime, bool LeaveIdle) direct = default;
        var thread = new Thread(() =>
        {
            var negative = ThreadScheduling.TrySetNice(-1);
            var realtime = ThreadScheduling.TrySetRealtime(1);
            if (realtime)
            {
                Assert.True(ThreadScheduling.TrySetNormal());
            }

            direct = (negative, realtime, ThreadScheduling.TrySetIdle() && ThreadScheduling.TrySetNormal());
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));

        Assert.Equal(direct, (SchedulingGrants.NegativeNice, SchedulingGrants.Realtime, SchedulingGrants.LeaveIdle));
        Assert.Equal(direct is (true, true, true), SchedulingGrants.DescribeRefusals() is null);
    }

    [SkippableFact]
    public void A_thread_made_SCHED_IDLE_returns_to_SCHED_OTHER_at_its_nice_value_where_the_probe_says_so()
    {
        Skip.IfNot(SchedulingGrants.LeaveIdle, SchedulingGrants.DescribeRefusals());
        (int Policy, int Nice) idle = default, back = default;
        var thread = new Thread(() =>
        {
            Assert.True(ThreadScheduling.TrySetNice(3));
            Assert.True(ThreadScheduling.TrySetIdle());
            idle = ThreadStat.Current();
            Assert.True(ThreadScheduling.TrySetNormal());
            back = ThreadStat.Current();
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));

        Assert.Equal(Libc.SCHED_IDLE, idle.Policy);
        Assert.Equal((Libc.SCHED_OTHER, 3), back);
    }
}
