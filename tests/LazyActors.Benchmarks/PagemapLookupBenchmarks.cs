using BenchmarkDotNet.Attributes;
using LazyActors.Engine.Images;

namespace LazyActors.Benchmarks;

/// <summary>
/// Pagemap lookup by dump address (<see cref="TaskImages.FindRun"/>, a binary search over the task's runs): the
/// first step of every fault and every page read. 1024 random present pages (hits) or gap pages (misses) per
/// invocation; expect O(log runs) and 0 B allocated.
/// </summary>
[Config(typeof(MicroBenchmarkConfig))]
public class PagemapLookupBenchmarks
{
    private const int Batch = 1024;

    private SyntheticImages _images = null!;
    private ulong[] _hits = null!;
    private ulong[] _misses = null!;

    /// <summary>Largest pagemap entry: 1 page gives ~57k runs, 256 pages a few hundred (CRIU-sized entries).</summary>
    [Params(1, 256)]
    public int MaxEntryPages { get; set; }

    /// <summary>Writes a 256 MiB one-task checkpoint and picks the probe addresses.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _images = SyntheticImages.Create(256L << 20, MaxEntryPages);
        _hits = _images.PresentPages(Batch, 1);
        _misses = _images.GapPages(Batch, 2);
        if (_misses.Length == 0)
        {
            _misses = _hits.Select(a => a + (1UL << 40)).ToArray();
        }
    }

    /// <summary>Deletes the checkpoint.</summary>
    [GlobalCleanup]
    public void Cleanup() => _images.Dispose();

    /// <summary>FindRun on pages inside runs.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int FindRunHit()
    {
        var task = _images.Task;
        int sum = 0;
        foreach (var address in _hits)
        {
            sum += task.FindRun(address);
        }

        return sum;
    }

    /// <summary>FindRun on pages in no run (holes).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int FindRunMiss()
    {
        var task = _images.Task;
        int sum = 0;
        foreach (var address in _misses)
        {
            sum += task.FindRun(address);
        }

        return sum;
    }
}
