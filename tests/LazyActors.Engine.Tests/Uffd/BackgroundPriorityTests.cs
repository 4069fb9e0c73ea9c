using LazyActors.Engine.Interop;
using LazyActors.Engine.Scheduling;
using LazyActors.Engine.Tests.Support;
using LazyActors.Engine.Uffd;
using Xunit;
using static LazyActors.Engine.Tests.Uffd.NativeTestSupport;

namespace LazyActors.Engine.Tests.Uffd;

/// <summary>
/// Background slices scheduled below the fault path (<see cref="BackgroundPriority"/>) on a real uffd: the slice runs at
/// the lowered priority on the caller's thread and on the second copier, a fault's copy keeps the gate's priority
/// ceiling, a read that waits for a lowered slice lends both copiers SCHED_FIFO 1 until the slice ends, and every thread
/// is back where it was afterwards; every page is right.
/// </summary>
public sealed class BackgroundPriorityTests : IDisposable
{
    private const int Pages = 512;
    private const ulong Length = (ulong)Pages * PageSize;
    private const ulong Slice = 1024 * 1024;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private readonly PatternedUffdTarget _fixture;
    private readonly MappedRegion _source;
    private readonly MappedRegion _target;
    private readonly UserFaultFd _uffd;

    public BackgroundPriorityTests()
    {
        _fixture = new PatternedUffdTarget(Pages, seed: 29);
        (_source, _target, _uffd) = (_fixture.Source, _fixture.Target, _fixture.Uffd);
    }

    public void Dispose() => _fixture.Dispose();

    [SkippableFact]
    public void Idle_background_slices_run_SCHED_IDLE_on_both_copiers_and_fault_copies_keep_the_ceiling()
    {
        Skip.IfNot(SchedulingGrants.NegativeNice && SchedulingGrants.Realtime && SchedulingGrants.LeaveIdle, SchedulingGrants.DescribeRefusals());
        using var helper = new SecondCopier(GatePriority.Ceiling, -10, BackgroundPriority.Idle);
        using var adapter = new UserFaultFdAdapter(_uffd.Handle, GatePriority.Ceiling, reportsMemoryChanges: true, helper, BackgroundPriority.Idle);
        var inside = new System.Collections.Concurrent.ConcurrentDictionary<SplitHalf, (int Policy, int Nice)>();
        (int Policy, int Nice) before = default, after = default, whole = default;
        UffdOpResult fault = default, unsplit = default;
        BulkCopyResult split = default;
        var thread = new Thread(() =>
        {
            ThreadScheduling.TrySetNice(-10);
            before = ThreadStat.Current();
            split = adapter.CopyBulk(_target.Start, _source.Address, Slice, (uffd, half, destination, source, length) =>
            {
                inside[half] = ThreadStat.Current();
                return uffd.Copy(destination, source, length);
            });
            unsplit = adapter.CopyBulk(_target.Start + Slice, _source.Address + (nint)Slice, 32 * PageSize, (uffd, _, destination, source, length) =>
            {
                whole = ThreadStat.Current();
                return uffd.Copy(destination, source, length);
            }).Combined;
            fault = adapter.Copy(_target.Start + Slice + (32 * PageSize), _source.Address + (nint)(Slice + (32 * PageSize)), PageSize);
            after = ThreadStat.Current();
        });
        thread.Start();
        Assert.True(thread.Join(Bound));

        Assert.Equal(new UffdOpResult((long)Slice, Errno.None), split.Combined);
        Assert.True(unsplit.IsSuccess && fault.IsSuccess, $"{unsplit} {fault}");
        Assert.Equal(Libc.SCHED_IDLE, inside[SplitHalf.First].Policy);
        Assert.Equal(Libc.SCHED_IDLE, inside[SplitHalf.Second].Policy);
        Assert.Equal(Libc.SCHED_IDLE, whole.Policy);
        Assert.Equal((Libc.SCHED_OTHER, -10), before);
        Assert.Equal(before, after);
        AssertPagesRight(Slice + (33 * PageSize));
    }

    [SkippableFact]
    public void Normal_background_slices_run_at_nice_0_and_the_thread_gets_its_own_nice_back()
    {
        Skip.IfNot(SchedulingGrants.NegativeNice && SchedulingGrants.Realtime && SchedulingGrants.LeaveIdle, SchedulingGrants.DescribeRefusals());
        using var helper = new SecondCopier(GatePriority.Ceiling, -10, BackgroundPriority.Normal);
        using var adapter = new UserFaultFdAdapter(_uffd.Handle, GatePriority.Ceiling, reportsMemoryChanges: true, helper, BackgroundPriority.Normal);
        var inside = new System.Collections.Concurrent.ConcurrentDictionary<SplitHalf, (int Policy, int Nice)>();
        (int Policy, int Nice) after = default;
        UffdOpResult plain = default;
        BulkCopyResult split = default;
        var thread = new Thread(() =>
        {
            ThreadScheduling.TrySetNice(-7);
            split = adapter.CopyBulk(_target.Start, _source.Address, Slice, (uffd, half, destination, source, length) =>
            {
                inside[half] = ThreadStat.Current();
                return uffd.Copy(destination, source, length);
            });
            plain = adapter.CopyBackground(_target.Start + Slice, _source.Address + (nint)Slice, Length - Slice);
            after = ThreadStat.Current();
        });
        thread.Start();
        Assert.True(thread.Join(Bound));

        Assert.True(split.Combined.IsSuccess && plain.IsSuccess, $"{split.Combined} {plain}");
        Assert.Equal((Libc.SCHED_OTHER, 0), inside[SplitHalf.First]);
        Assert.Equal((Libc.SCHED_OTHER, 0), inside[SplitHalf.Second]);
        Assert.Equal((Libc.SCHED_OTHER, -7), after);
        AssertPagesRight(Length);
    }

    [SkippableFact]
    public void A_read_waiting_for_an_idle_slice_lends_both_copiers_real_time_until_the_slice_ends()
    {
        Skip.IfNot(SchedulingGrants.NegativeNice && SchedulingGrants.Realtime && SchedulingGrants.LeaveIdle, SchedulingGrants.DescribeRefusals());
        using var helper = new SecondCopier(GatePriority.Ceiling, -10, BackgroundPriority.Idle);
        using var adapter = new UserFaultFdAdapter(_uffd.Handle, GatePriority.Ceiling, reportsMemoryChanges: true, helper, BackgroundPriority.Idle);
        var reads = 0;
        adapter.Barrier.AttachReader(() => Interlocked.Increment(ref reads));
        using var helperInHalf = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        (int Policy, int Nice) helperBefore = default, helperBoosted = default, helperNextSlice = default, callerAfter = default;
        BulkCopyResult first = default, second = default;
        var copier = new Thread(() =>
        {
            ThreadScheduling.TrySetNice(-10);
            first = adapter.CopyBulk(_target.Start, _source.Address, Slice, (uffd, half, destination, source, length) =>
            {
                if (half == SplitHalf.Second)
                {
                    helperBefore = ThreadStat.Current();
                    helperInHalf.Set();
                    release.Wait(Bound);
                    helperBoosted = ThreadStat.Current();
                }

                return uffd.Copy(destination, source, length);
            });
            callerAfter = ThreadStat.Current();
            second = adapter.CopyBulk(_target.Start + Slice, _source.Address + (nint)Slice, Length - Slice, (uffd, half, destination, source, length) =>
            {
                if (half == SplitHalf.Second)
                {
                    helperNextSlice = ThreadStat.Current();
                }

                return uffd.Copy(destination, source, length);
            });
        });
        copier.Start();
        Assert.True(helperInHalf.Wait(Bound));

        // The reader finds the gate held by the idle slice: the read is left to the holder, and both copiers are lent FIFO 1.
        Assert.False(adapter.Barrier.RequestRead());
        var holderBoosted = adapter.Barrier.IsHolderBoosted;
        var helperWasBoosted = helper.IsBoosted;
        release.Set();
        Assert.True(copier.Join(Bound));

        Assert.True(holderBoosted, "the slice's holder was not lent real time");
        Assert.True(helperWasBoosted, "the second copier was not lent real time");
        Assert.Equal(Libc.SCHED_IDLE, helperBefore.Policy);
        Assert.Equal(Libc.SCHED_FIFO, helperBoosted.Policy);
        Assert.Equal(Libc.SCHED_IDLE, helperNextSlice.Policy); // back to idle after the boosted half
        Assert.False(helper.IsBoosted);
        Assert.False(adapter.Barrier.IsHolderBoosted);
        Assert.Equal((Libc.SCHED_OTHER, -10), callerAfter);
        Assert.Equal(1, Volatile.Read(ref reads)); // performed by the holder as it left
        Assert.False(adapter.Barrier.IsReadPending);
        Assert.True(first.Combined.IsSuccess && second.Combined.IsSuccess, $"{first.Combined} {second.Combined}");
        AssertPagesRight(Length);
    }

    private void AssertPagesRight(ulong length)
    {
        for (ulong at = 0; at < length; at += PageSize)
        {
            Assert.Equal(Errno.EEXIST, _uffd.ZeroPage(_target.Start + at, PageSize).Error);
        }

        Assert.True(_source.GetSpan(0, (int)length).SequenceEqual(_target.GetSpan(0, (int)length)), "target bytes differ from the source");
    }
}
