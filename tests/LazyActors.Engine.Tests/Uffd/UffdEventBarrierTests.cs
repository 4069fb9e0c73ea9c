using LazyActors.Engine.Interop;
using LazyActors.Engine.Scheduling;
using LazyActors.Engine.Tests.Support;
using LazyActors.Engine.Uffd;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Engine.Tests.Uffd;

public sealed class UffdEventBarrierTests
{
    [Fact]
    public void Barrier_counts_events_read_until_they_are_handled()
    {
        var barrier = new UffdEventBarrier();
        Assert.False(barrier.HasUnhandledEvents);
        barrier.EventsRead(2);
        Assert.True(barrier.HasUnhandledEvents);
        barrier.EventsHandled(1);
        Assert.True(barrier.HasUnhandledEvents);
        barrier.EventsHandled(1);
        Assert.False(barrier.HasUnhandledEvents);
        barrier.EventsRead(0);
        Assert.False(barrier.HasUnhandledEvents);
    }

    [Fact]
    public void A_read_requested_while_the_gate_is_free_runs_at_once_on_the_caller()
    {
        var barrier = new UffdEventBarrier();
        var readers = new List<int>();
        barrier.AttachReader(() => readers.Add(Environment.CurrentManagedThreadId));
        Assert.True(barrier.RequestRead());
        Assert.Equal([Environment.CurrentManagedThreadId], readers);
        Assert.False(barrier.IsReadPending);
    }

    [Fact]
    public void The_reader_never_waits_for_a_copier_the_copier_reads_as_it_leaves()
    {
        var barrier = new UffdEventBarrier();
        var readOn = new List<int>();
        barrier.AttachReader(() => readOn.Add(Environment.CurrentManagedThreadId));
        using var copying = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var copierThread = 0;
        var copier = new Thread(() =>
        {
            copierThread = Environment.CurrentManagedThreadId;
            using (barrier.EnterCopy())
            {
                copying.Set();
                release.Wait(TimeSpan.FromSeconds(10));
            }
        });
        copier.Start();
        Assert.True(copying.Wait(TimeSpan.FromSeconds(10)));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(barrier.RequestRead()); // gate taken: left to the copier, returned at once
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1));
        Assert.True(barrier.IsReadPending);
        Assert.Empty(readOn);

        release.Set();
        Assert.True(copier.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal([copierThread], readOn);
        Assert.False(barrier.IsReadPending);
    }

    [Fact]
    public void A_read_left_to_a_copier_is_served_as_it_leaves_so_the_next_copy_sees_the_event()
    {
        var barrier = new UffdEventBarrier();
        barrier.AttachReader(() => barrier.EventsRead(1));
        using (barrier.EnterCopy())
        {
            var other = new Thread(() => barrier.RequestRead());
            other.Start();
            Assert.True(other.Join(TimeSpan.FromSeconds(10)));
            Assert.True(barrier.IsReadPending);
        }

        // Leaving served it; the next copier sees the event and must not copy.
        Assert.False(barrier.IsReadPending);
        Assert.True(barrier.HasUnhandledEvents);
        barrier.EventsHandled(1);
        Assert.False(barrier.HasUnhandledEvents);
    }

    [Fact]
    public void No_request_is_lost_under_contention()
    {
        var barrier = new UffdEventBarrier();
        var pending = 0;
        var served = 0;
        barrier.AttachReader(() =>
        {
            // A read drains everything that was readable when it ran.
            Interlocked.Exchange(ref pending, 0);
            Interlocked.Increment(ref served);
        });
        var stop = false;
        var copiers = Enumerable.Range(0, 3).Select(_ => new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                using (barrier.EnterCopy())
                {
                    Thread.SpinWait(200);
                }
            }
        })).ToList();
        copiers.ForEach(t => t.Start());
        for (var i = 0; i < 20_000; i++)
        {
            Interlocked.Exchange(ref pending, 1);
            barrier.RequestRead();
        }

        Volatile.Write(ref stop, true);
        Assert.All(copiers, t => Assert.True(t.Join(TimeSpan.FromSeconds(10))));
        Assert.Equal(0, Volatile.Read(ref pending));
        Assert.False(barrier.IsReadPending);
        Assert.True(served > 0);
    }

    [SkippableFact]
    public void With_inheritance_a_copier_the_reader_waits_for_runs_real_time_until_it_leaves()
    {
        var barrier = new UffdEventBarrier(GatePriority.Inherit);
        barrier.AttachReader(() => { });
        using var inGate = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        int policyInside = -1, policyAfter = -1;
        var copier = new Thread(() =>
        {
            using (barrier.EnterCopy())
            {
                inGate.Set();
                release.Wait(TimeSpan.FromSeconds(10));
                policyInside = ThreadStat.Current().Policy;
            }

            policyAfter = ThreadStat.Current().Policy;
        });
        copier.Start();
        Assert.True(inGate.Wait(TimeSpan.FromSeconds(10)));
        Assert.False(barrier.RequestRead());
        var boosted = barrier.IsHolderBoosted;
        release.Set();
        Assert.True(copier.Join(TimeSpan.FromSeconds(10)));
        Skip.If(!boosted, "SCHED_FIFO refused (no CAP_SYS_NICE): the copier keeps its priority");

        Assert.Equal(Libc.SCHED_FIFO, policyInside);
        Assert.Equal(Libc.SCHED_OTHER, policyAfter);
        Assert.False(barrier.IsHolderBoosted);
        Assert.False(barrier.IsReadPending);
    }

    [Fact]
    public void Detached_barrier_drops_requests()
    {
        var barrier = new UffdEventBarrier();
        var reads = 0;
        barrier.AttachReader(() => reads++);
        barrier.DetachReader();
        barrier.RequestRead();
        Assert.Equal(0, reads);
        Assert.False(barrier.IsReadPending);
    }

    [SkippableFact]
    public void Ceiling_copies_succeed_and_return_the_thread_to_its_normal_policy_and_nice()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var region = MappedRegion.Map(2 * 4096);
        using var raw = UserFaultFd.Create();
        raw.Api(UffdFeatures.NonCooperative);
        raw.Register(region.Start, region.Length, RegisterMode.Missing);
        using var adapter = new UserFaultFdAdapter(raw.Handle, GatePriority.Ceiling);
        UffdOpResult zero = default, copy = default;
        (int Policy, int Nice) before = default, after = default;
        var thread = new Thread(() =>
        {
            ThreadScheduling.TrySetNice(3);
            before = (ThreadStat.Current().Policy, ThreadStat.Current().Nice);
            zero = adapter.ZeroPage(region.Start, 4096);
            var page = new byte[4096];
            unsafe
            {
                fixed (byte* source = page)
                {
                    copy = adapter.Copy(region.Start + 4096, (nint)source, 4096);
                }
            }

            after = (ThreadStat.Current().Policy, ThreadStat.Current().Nice);
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Assert.True(zero.IsSuccess, zero.ToString());
        Assert.True(copy.IsSuccess, copy.ToString());
        Assert.Equal(before, after);
        Assert.Equal(Libc.SCHED_OTHER, after.Policy);
    }

    [SkippableFact]
    public void Ceiling_held_keeps_real_time_between_copies_until_released_or_a_lowered_slice()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        Skip.IfNot(SchedulingGrants.Realtime, SchedulingGrants.DescribeRefusals());
        using var region = MappedRegion.Map(4 * 4096);
        using var raw = UserFaultFd.Create();
        raw.Api(UffdFeatures.NonCooperative);
        raw.Register(region.Start, region.Length, RegisterMode.Missing);
        using var held = new UserFaultFdAdapter(raw.Handle, GatePriority.CeilingHeld, backgroundPriority: BackgroundPriority.Gate);
        using var rawIdle = UserFaultFd.Create();
        using var idleRegion = MappedRegion.Map(4096);
        rawIdle.Api(UffdFeatures.NonCooperative);
        rawIdle.Register(idleRegion.Start, idleRegion.Length, RegisterMode.Missing);
        using var lowered = new UserFaultFdAdapter(rawIdle.Handle, GatePriority.CeilingHeld, backgroundPriority: BackgroundPriority.Idle);
        var results = new List<UffdOpResult>();
        var states = new List<(int Policy, int Nice, bool Holds)>();
        var thread = new Thread(() =>
        {
            ThreadScheduling.TrySetNice(3);
            var page = new byte[4096];
            unsafe
            {
                fixed (byte* source = page)
                {
                    results.Add(held.Copy(region.Start, (nint)source, 4096));
                    states.Add(State());
                    results.Add(held.CopyBackground(region.Start + 4096, (nint)source, 4096));
                    states.Add(State());
                    UffdEventBarrier.ReleaseHeldCeiling();
                    states.Add(State());
                    results.Add(held.Copy(region.Start + 2 * 4096, (nint)source, 4096));
                    states.Add(State());
                    // A lowered (SCHED_IDLE) background slice must not start from the held SCHED_FIFO.
                    results.Add(lowered.CopyBackground(idleRegion.Start, (nint)source, 4096));
                    states.Add(State());
                }
            }
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Assert.All(results, r => Assert.True(r.IsSuccess, r.ToString()));
        Assert.Equal(
            [(Libc.SCHED_FIFO, 0, true), (Libc.SCHED_FIFO, 0, true), (Libc.SCHED_OTHER, 3, false), (Libc.SCHED_FIFO, 0, true), (Libc.SCHED_OTHER, 3, false)],
            states.Select(s => s.Policy == Libc.SCHED_FIFO ? (s.Policy, 0, s.Holds) : s));

        static (int Policy, int Nice, bool Holds) State()
        {
            var (policy, nice) = ThreadStat.Current();
            return (policy, nice, UffdEventBarrier.HoldsCeiling);
        }
    }

    [SkippableFact]
    public void Plain_ceiling_still_drops_real_time_after_every_copy()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        Skip.IfNot(SchedulingGrants.Realtime, SchedulingGrants.DescribeRefusals());
        using var region = MappedRegion.Map(4096);
        using var raw = UserFaultFd.Create();
        raw.Api(UffdFeatures.NonCooperative);
        raw.Register(region.Start, region.Length, RegisterMode.Missing);
        using var adapter = new UserFaultFdAdapter(raw.Handle, GatePriority.Ceiling);
        UffdOpResult copy = default;
        (int Policy, bool Holds) after = default;
        var thread = new Thread(() =>
        {
            var page = new byte[4096];
            unsafe
            {
                fixed (byte* source = page)
                {
                    copy = adapter.CopyBackground(region.Start, (nint)source, 4096);
                }
            }

            after = (ThreadStat.Current().Policy, UffdEventBarrier.HoldsCeiling);
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Assert.True(copy.IsSuccess, copy.ToString());
        Assert.Equal((Libc.SCHED_OTHER, false), after);
    }

    [SkippableFact]
    public unsafe void Adapter_refuses_copies_with_EAGAIN_while_an_event_is_unhandled()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var adapter = new UserFaultFdAdapter(UserFaultFd.Create().Handle);
        var page = stackalloc byte[4096];
        adapter.Barrier.EventsRead(1);
        Assert.Equal(new UffdOpResult(0, Errno.EAGAIN), adapter.Copy(0x1000_0000, (nint)page, 4096));
        Assert.Equal(new UffdOpResult(0, Errno.EAGAIN), adapter.ZeroPage(0x1000_0000, 4096));

        adapter.EventsHandled(1);
        // Now the kernel answers (the fd has no UFFDIO_API/registration, so it refuses with its own errno).
        Assert.NotEqual(Errno.EAGAIN, adapter.Copy(0x1000_0000, (nint)page, 4096).Error);
    }
}
