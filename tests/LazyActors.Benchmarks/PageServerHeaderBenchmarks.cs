using BenchmarkDotNet.Attributes;
using LazyActors.Engine.Protocol;

namespace LazyActors.Benchmarks;

/// <summary>Encoding and decoding the 32-byte page-server header (one per GET and per reply): must be 0 B/op.</summary>
[Config(typeof(MicroBenchmarkConfig))]
public class PageServerHeaderBenchmarks
{
    private readonly byte[] _wire = new byte[PageServerIov.Size * 64];
    private PageServerIov[] _headers = [];

    [GlobalSetup]
    public void Setup()
    {
        _headers = Enumerable.Range(0, 64).Select(i => PageServerIov.Get(1000 + i, 0x7f00_0000_0000UL + (ulong)i * 4096, (ulong)(i + 1))).ToArray();
        for (var i = 0; i < _headers.Length; i++)
        {
            _headers[i].WriteTo(_wire.AsSpan(i * PageServerIov.Size));
        }
    }

    [Benchmark(OperationsPerInvoke = 64)]
    public void Encode()
    {
        var wire = _wire.AsSpan();
        for (var i = 0; i < _headers.Length; i++)
        {
            _headers[i].WriteTo(wire.Slice(i * PageServerIov.Size, PageServerIov.Size));
        }
    }

    [Benchmark(OperationsPerInvoke = 64)]
    public ulong Decode()
    {
        ulong sum = 0;
        ReadOnlySpan<byte> wire = _wire;
        for (var i = 0; i < 64; i++)
        {
            var iov = PageServerIov.ReadFrom(wire.Slice(i * PageServerIov.Size, PageServerIov.Size));
            sum += iov.Vaddr + iov.NrPages;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = 64)]
    public ulong ReplyFromRequest()
    {
        ulong sum = 0;
        for (var i = 0; i < _headers.Length; i++)
        {
            sum += PageServerIov.PagesReply(in _headers[i], 1).Command;
        }

        return sum;
    }
}
