using BenchmarkDotNet.Attributes;
using LazyActors.Engine.Ranges;

namespace LazyActors.Benchmarks;

/// <summary>
/// Scattered page faults on one large lazy range. Setup faults <see cref="Fragments"/> random pages and leaves them in
/// flight, so pending holds about that many fragments (CRIU's linked lists then cost O(fragments) per fault). Each
/// benchmark then probes a fixed batch of other random pages; per-operation time should grow only with
/// log(fragments).
/// </summary>
[Config(typeof(MicroBenchmarkConfig))]
public class FaultBenchmarks
{
    private const ulong P = PageGeometry.PageSize;
    private const ulong Base = 0x7f00_0000_0000;
    private const int Batch = 1024;

    private TaskRangeBook _book = null!;
    private ulong[] _probes = null!;
    private ulong[] _inFlightPages = null!;
    private ulong _outside;

    /// <summary>Random pages already in flight when the benchmark starts (≈ pending fragment count).</summary>
    [Params(1_000, 100_000)]
    public int Fragments { get; set; }

    /// <summary>Builds the fragmented book and the probe pages.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var pages = (Fragments + Batch) * 4;
        _book = new TaskRangeBook();
        _book.AddLazy(Base, Base + ((ulong)pages * P), Base);
        _outside = Base + ((ulong)pages * P) + P;

        var random = new Random(42);
        var shuffled = Enumerable.Range(0, pages).ToArray();
        random.Shuffle(shuffled);
        _inFlightPages = shuffled.Take(Fragments).Select(page => Base + ((ulong)page * P) + 123).ToArray();
        _probes = shuffled.Skip(Fragments).Take(Batch).Select(page => Base + ((ulong)page * P) + 7).ToArray();
        foreach (var page in _inFlightPages)
        {
            _book.OnFault(page);
        }
    }

    /// <summary>OnFault on a pending page (splits its range), then Abandon (merges it back): one pair per op.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int OnFaultThenAbandon()
    {
        var claimed = 0;
        foreach (var probe in _probes)
        {
            var decision = _book.OnFault(probe);
            if (decision.IsClaimed)
            {
                claimed++;
                _book.Abandon(decision.Range);
            }
        }

        return claimed;
    }

    /// <summary>OnFault + Complete with 0 bytes copied (data lost, page back to pending), the completion path.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int OnFaultThenFailedComplete()
    {
        var claimed = 0;
        foreach (var probe in _probes)
        {
            var decision = _book.OnFault(probe);
            if (decision.IsClaimed)
            {
                claimed++;
                _book.Complete(decision.Range, 0);
            }
        }

        return claimed;
    }

    /// <summary>OnFault on pages already in flight (the de-duplication answer).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int OnFaultAlreadyInFlight()
    {
        var hits = 0;
        for (var i = 0; i < Batch; i++)
        {
            hits += _book.OnFault(_inFlightPages[i % _inFlightPages.Length]).Outcome == FaultOutcome.AlreadyInFlight ? 1 : 0;
        }

        return hits;
    }

    /// <summary>OnFault outside any lazy range (the zero-page answer).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int OnFaultNotPending()
    {
        var zeros = 0;
        for (var i = 0; i < Batch; i++)
        {
            zeros += _book.OnFault(_outside + ((ulong)i * P)).Outcome == FaultOutcome.NotPending ? 1 : 0;
        }

        return zeros;
    }
}
