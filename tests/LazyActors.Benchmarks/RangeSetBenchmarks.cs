using BenchmarkDotNet.Attributes;
using LazyActors.Engine.Ranges;

namespace LazyActors.Benchmarks;

/// <summary>
/// <see cref="PageRangeSet"/> operations on a set of <see cref="Ranges"/> disjoint ranges (3 pages each, 1-page gaps).
/// Every mutating benchmark restores the set (split + re-add, take + re-add, shift + shift back) so that each
/// invocation sees the same state and steady-state allocations show up as 0 B/op.
/// </summary>
[Config(typeof(MicroBenchmarkConfig))]
public class RangeSetBenchmarks
{
    private const ulong P = PageGeometry.PageSize;
    private const ulong RangeStride = 4 * P;
    private const int Batch = 1024;

    private readonly List<AddressRange> _scratch = new(16);
    private PageRangeSet _set = null!;
    private ulong[] _addresses = null!;
    private ulong[] _rangeStarts = null!;

    /// <summary>Number of ranges in the set.</summary>
    [Params(1_000, 100_000)]
    public int Ranges { get; set; }

    /// <summary>Builds the set and the random probes.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _set = Build(Ranges, random);
        _addresses = new ulong[Batch];
        _rangeStarts = new ulong[Batch];
        for (var i = 0; i < Batch; i++)
        {
            var range = (ulong)random.Next(Ranges);
            _rangeStarts[i] = range * RangeStride;
            _addresses[i] = (range * RangeStride) + (ulong)random.Next(0, (int)RangeStride);
        }
    }

    /// <summary>Point lookups (3/4 hit a range, 1/4 fall in a gap).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int Contains()
    {
        var hits = 0;
        foreach (var address in _addresses)
        {
            hits += _set.Contains(address) ? 1 : 0;
        }

        return hits;
    }

    /// <summary>Point lookups returning the whole range.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public ulong TryFind()
    {
        ulong sum = 0;
        foreach (var address in _addresses)
        {
            if (_set.TryFind(address, out var range))
            {
                sum += range.DumpAddressOf(address);
            }
        }

        return sum;
    }

    /// <summary>Cut the middle page out of a range (split in two), then add it back (merge both sides).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long SplitAndRejoin()
    {
        long removed = 0;
        foreach (var start in _rangeStarts)
        {
            removed += _set.Remove(start + P, start + (2 * P));
            _set.Add(start + P, start + (2 * P), start + P);
        }

        return removed;
    }

    /// <summary>Cut a window spanning parts of three ranges, then put the pieces back.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public ulong CutSpanningAndRestore()
    {
        ulong removed = 0;
        foreach (var start in _rangeStarts)
        {
            if (start + (3 * RangeStride) > (ulong)Ranges * RangeStride)
            {
                continue;
            }

            _scratch.Clear();
            removed += _set.ExtractTo(start + P, start + (2 * RangeStride) + P, _scratch);
            foreach (var piece in _scratch)
            {
                _set.Add(piece);
            }
        }

        return removed;
    }

    /// <summary>REMAP of a window holding 4 ranges to empty space above the set, and back.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public ulong ShiftAndBack()
    {
        var away = ((ulong)Ranges + 16) * RangeStride;
        foreach (var start in _rangeStarts)
        {
            _set.Shift(start, away, 4 * RangeStride);
            _set.Shift(away, start, 4 * RangeStride);
        }

        return _set.TotalBytes;
    }

    /// <summary>Background chunk from the lowest range, then put it back.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public ulong TakeLowestAndReturn()
    {
        ulong taken = 0;
        for (var i = 0; i < Batch; i++)
        {
            _set.TryTakeLowest(2 * P, out var chunk);
            taken += chunk.Length;
            _set.Add(chunk);
        }

        return taken;
    }

    /// <summary>Read-ahead take at a random address (splits the range), then put it back.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public ulong TakeAroundAndReturn()
    {
        ulong taken = 0;
        foreach (var address in _addresses)
        {
            if (_set.TryTakeAround(address, P, out var chunk))
            {
                taken += chunk.Length;
                _set.Add(chunk);
            }
        }

        return taken;
    }

    /// <summary>Fork copy of the whole set.</summary>
    [Benchmark]
    public int Clone() => _set.Clone().Count;

    /// <summary>Building the set from scratch in random order.</summary>
    [Benchmark]
    public int BuildShuffled() => Build(Ranges, new Random(7)).Count;

    private static PageRangeSet Build(int ranges, Random random)
    {
        var order = Enumerable.Range(0, ranges).ToArray();
        random.Shuffle(order);
        var set = new PageRangeSet(ranges);
        foreach (var i in order)
        {
            var start = (ulong)i * RangeStride;
            set.Add(start, start + (3 * P), start);
        }

        return set;
    }
}
