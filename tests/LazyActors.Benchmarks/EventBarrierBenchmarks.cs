using BenchmarkDotNet.Attributes;
using LazyActors.Engine.Scheduling;
using LazyActors.Engine.Uffd;

namespace LazyActors.Benchmarks;

/// <summary>
/// What the uffd gate costs on the fault path when nobody contends: a copier's enter/leave (around every UFFDIO_COPY
/// slice) and the reader's request for a read it performs at once. Must be tens of nanoseconds and 0 B/op.
/// </summary>
[Config(typeof(MicroBenchmarkConfig))]
public class EventBarrierBenchmarks
{
    private readonly UffdEventBarrier _barrier = new();
    private readonly UffdEventBarrier _inheriting = new(GatePriority.Inherit);
    private int _reads;

    [GlobalSetup]
    public void Setup()
    {
        _barrier.AttachReader(() => _reads++);
        _inheriting.AttachReader(() => _reads++);
    }

    [Benchmark(Baseline = true)]
    public bool EnterAndLeaveForACopy()
    {
        using (_barrier.EnterCopy())
        {
            return _barrier.HasUnhandledEvents;
        }
    }

    [Benchmark]
    public bool EnterAndLeaveForACopyWithInheritance()
    {
        using (_inheriting.EnterCopy())
        {
            return _inheriting.HasUnhandledEvents;
        }
    }

    [Benchmark]
    public bool RequestAReadThatRunsAtOnce() => _barrier.RequestRead();

    /// <summary>The read benchmark must have run the reads it requested, else it measured a request that did nothing.</summary>
    [GlobalCleanup(Target = nameof(RequestAReadThatRunsAtOnce))]
    public void CheckReadsRan()
    {
        if (_reads == 0)
        {
            throw new InvalidOperationException($"{nameof(RequestAReadThatRunsAtOnce)} never ran the attached read");
        }
    }
}
