using BenchmarkDotNet.Attributes;
using LazyActors.Engine.Ranges;

namespace LazyActors.Benchmarks;

/// <summary>
/// <see cref="PageRunCoalescer"/> on batches of <see cref="Requests"/> single-page requests, 3/4 of which continue the
/// previous one (a typical sequential-ish fault burst). The copy into the work buffer is measured separately.
/// </summary>
[Config(typeof(MicroBenchmarkConfig))]
public class CoalescerBenchmarks
{
    private const ulong P = PageGeometry.PageSize;

    private PageRequest[] _sorted = null!;
    private PageRequest[] _shuffled = null!;
    private PageRequest[] _work = null!;

    /// <summary>Requests per batch.</summary>
    [Params(64, 512, 4096)]
    public int Requests { get; set; }

    /// <summary>Builds sorted and shuffled batches.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _sorted = new PageRequest[Requests];
        var address = 0x7f00_0000_0000UL;
        for (var i = 0; i < Requests; i++)
        {
            address += random.Next(4) == 0 ? (ulong)random.Next(2, 40) * P : P;
            _sorted[i] = new PageRequest(address, 1);
        }

        _shuffled = _sorted.ToArray();
        random.Shuffle(_shuffled);
        _work = new PageRequest[Requests];
    }

    /// <summary>Baseline: only the copy into the work buffer.</summary>
    [Benchmark(Baseline = true)]
    public int CopyOnly()
    {
        _sorted.CopyTo(_work, 0);
        return _work.Length;
    }

    /// <summary>Coalesce a sorted batch into runs of at most 64 pages.</summary>
    [Benchmark]
    public int CoalesceSorted()
    {
        _sorted.CopyTo(_work, 0);
        return PageRunCoalescer.Coalesce(_work, 64);
    }

    /// <summary>Sort an unsorted batch, then coalesce it.</summary>
    [Benchmark]
    public int SortAndCoalesce()
    {
        _shuffled.CopyTo(_work, 0);
        return PageRunCoalescer.SortAndCoalesce(_work, 64);
    }
}
