using LazyActors.Engine.Interop;
using LazyActors.Engine.Scheduling;
using LazyActors.Engine.Tests.Support;
using LazyActors.Engine.Uffd;
using Xunit;
using static LazyActors.Engine.Tests.Uffd.NativeTestSupport;

namespace LazyActors.Engine.Tests.Uffd;

/// <summary>
/// A background push lowered only until the restorer has gone (<see cref="BackgroundPriorityPhases"/>), on a real uffd:
/// before, both copiers run each background slice at the lowered priority; once the restorer has gone (or
/// restorer-exit-wait after "restore finished", whichever comes first) both run at the gate's SCHED_FIFO ceiling again,
/// the caller's thread goes back to its own nice after every slice, a fault's copy keeps the ceiling throughout, and
/// every page is right.
/// </summary>
public sealed class BackgroundPriorityPhasesTests : IDisposable
{
    private const int Pages = 1024;
    private const ulong Length = (ulong)Pages * PageSize;
    private const ulong Slice = 1024 * 1024;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private readonly PatternedUffdTarget _fixture;
    private readonly MappedRegion _source;
    private readonly MappedRegion _target;
    private readonly UserFaultFd _uffd;

    public BackgroundPriorityPhasesTests()
    {
        _fixture = new PatternedUffdTarget(Pages, seed: 33);
        (_source, _target, _uffd) = (_fixture.Source, _fixture.Target, _fixture.Uffd);
    }

    public void Dispose() => _fixture.Dispose();

    [SkippableFact]
    public void The_lowered_priority_lasts_until_the_restorer_has_gone_or_the_wait_after_restore_finished_is_over()
    {
        var phases = new BackgroundPriorityPhases(BackgroundPriority.Idle, BackgroundPriority.Gate, TimeSpan.FromMilliseconds(150));
        Assert.True(phases.CanLower);
        Assert.Equal(BackgroundPriority.Idle, phases.Current);
        Thread.Sleep(200); // no bound runs before "restore finished"
        Assert.Equal(BackgroundPriority.Idle, phases.Current);
        Assert.False(phases.RestorerGone);

        phases.RestoreFinished();
        Assert.Equal(BackgroundPriority.Idle, phases.Current);
        Thread.Sleep(200);
        Assert.True(phases.RestorerGone);
        Assert.Equal(BackgroundPriority.Gate, phases.Current);

        var early = new BackgroundPriorityPhases(BackgroundPriority.Normal, BackgroundPriority.Gate, TimeSpan.FromSeconds(30));
        early.RestoreFinished();
        early.RestorerHasGone();
        Assert.Equal(BackgroundPriority.Gate, early.Current);

        var fixedPhases = BackgroundPriorityPhases.Fixed(BackgroundPriority.Gate);
        Assert.False(fixedPhases.CanLower);
        Assert.Equal(BackgroundPriority.Gate, fixedPhases.Current);
    }

    [SkippableFact]
    public void Both_copiers_run_idle_while_the_restorer_runs_and_at_the_ceiling_once_it_has_gone()
    {
        Skip.IfNot(SchedulingGrants.NegativeNice && SchedulingGrants.Realtime && SchedulingGrants.LeaveIdle, SchedulingGrants.DescribeRefusals());
        var phases = new BackgroundPriorityPhases(BackgroundPriority.Idle, BackgroundPriority.Gate, TimeSpan.FromSeconds(30));
        using var helper = new SecondCopier(GatePriority.Ceiling, -10, phases);
        using var adapter = new UserFaultFdAdapter(_uffd.Handle, GatePriority.Ceiling, reportsMemoryChanges: true, helper, phases);
        var before = new System.Collections.Concurrent.ConcurrentDictionary<SplitHalf, (int Policy, int Nice)>();
        var afterGone = new System.Collections.Concurrent.ConcurrentDictionary<SplitHalf, (int Policy, int Nice)>();
        (int Policy, int Nice) own = default, betweenSlices = default, end = default;
        BulkCopyResult lowered = default, full = default;
        UffdOpResult faultWhileLowered = default;
        var thread = new Thread(() =>
        {
            ThreadScheduling.TrySetNice(-10);
            own = ThreadStat.Current();
            phases.RestoreFinished();
            lowered = adapter.CopyBulk(_target.Start, _source.Address, Slice, (uffd, half, destination, source, length) =>
            {
                before[half] = ThreadStat.Current();
                return uffd.Copy(destination, source, length);
            });
            betweenSlices = ThreadStat.Current();
            faultWhileLowered = adapter.Copy(_target.Start + Slice, _source.Address + (nint)Slice, PageSize);
            phases.RestorerHasGone();
            full = adapter.CopyBulk(_target.Start + Slice + PageSize, _source.Address + (nint)(Slice + PageSize), Length - Slice - PageSize,
                (uffd, half, destination, source, length) =>
                {
                    afterGone[half] = ThreadStat.Current();
                    return uffd.Copy(destination, source, length);
                });
            end = ThreadStat.Current();
        });
        thread.Start();
        Assert.True(thread.Join(Bound));

        Assert.Equal(new UffdOpResult((long)Slice, Errno.None), lowered.Combined);
        Assert.True(faultWhileLowered.IsSuccess, faultWhileLowered.ToString());
        Assert.Equal(new UffdOpResult((long)(Length - Slice - PageSize), Errno.None), full.Combined);
        Assert.Equal(Libc.SCHED_IDLE, before[SplitHalf.First].Policy);
        Assert.Equal(Libc.SCHED_IDLE, before[SplitHalf.Second].Policy);
        Assert.Equal(Libc.SCHED_FIFO, afterGone[SplitHalf.First].Policy);
        Assert.Equal(Libc.SCHED_FIFO, afterGone[SplitHalf.Second].Policy);
        Assert.Equal(BackgroundPriority.Gate, helper.AppliedPriority);
        Assert.Equal((Libc.SCHED_OTHER, -10), own);
        Assert.Equal(own, betweenSlices);
        Assert.Equal(own, end);
        AssertPagesRight(Length);
    }

    [SkippableFact]
    public void A_restorer_that_never_goes_holds_the_push_down_only_until_the_wait_is_over()
    {
        Skip.IfNot(SchedulingGrants.NegativeNice && SchedulingGrants.Realtime && SchedulingGrants.LeaveIdle, SchedulingGrants.DescribeRefusals());
        var phases = new BackgroundPriorityPhases(BackgroundPriority.Normal, BackgroundPriority.Gate, TimeSpan.FromMilliseconds(100));
        using var helper = new SecondCopier(GatePriority.Ceiling, -10, phases);
        using var adapter = new UserFaultFdAdapter(_uffd.Handle, GatePriority.Ceiling, reportsMemoryChanges: true, helper, phases);
        var inside = new System.Collections.Concurrent.ConcurrentDictionary<(int Slice, SplitHalf Half), (int Policy, int Nice)>();
        BulkCopyResult first = default, second = default;
        var thread = new Thread(() =>
        {
            ThreadScheduling.TrySetNice(-10);
            phases.RestoreFinished();
            first = adapter.CopyBulk(_target.Start, _source.Address, Slice, (uffd, half, destination, source, length) =>
            {
                inside[(1, half)] = ThreadStat.Current();
                return uffd.Copy(destination, source, length);
            });
            Thread.Sleep(150);
            second = adapter.CopyBulk(_target.Start + Slice, _source.Address + (nint)Slice, Length - Slice, (uffd, half, destination, source, length) =>
            {
                inside[(2, half)] = ThreadStat.Current();
                return uffd.Copy(destination, source, length);
            });
        });
        thread.Start();
        Assert.True(thread.Join(Bound));

        Assert.True(first.Combined.IsSuccess && second.Combined.IsSuccess, $"{first.Combined} {second.Combined}");
        Assert.Equal((Libc.SCHED_OTHER, 0), inside[(1, SplitHalf.First)]);
        Assert.Equal((Libc.SCHED_OTHER, 0), inside[(1, SplitHalf.Second)]);
        Assert.Equal(Libc.SCHED_FIFO, inside[(2, SplitHalf.First)].Policy);
        Assert.Equal(Libc.SCHED_FIFO, inside[(2, SplitHalf.Second)].Policy);
        Assert.True(phases.RestorerGone);
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
