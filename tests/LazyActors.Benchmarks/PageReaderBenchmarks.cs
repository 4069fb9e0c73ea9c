using BenchmarkDotNet.Attributes;
using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;

namespace LazyActors.Benchmarks;

/// <summary>
/// <see cref="CheckpointPageReader"/> on a 256 MiB one-task checkpoint with CRIU-sized entries (256 pages):
/// zero-copy address lookup (<see cref="CheckpointPageReader.TryGetMappedPages"/>) and copying reads of 1 and 64
/// pages into a reused buffer. The pages file stays in the page cache after setup, so this is the CPU cost of the
/// lookup plus memcpy; all three must allocate 0 B.
/// </summary>
[Config(typeof(MicroBenchmarkConfig))]
public class PageReaderBenchmarks
{
    private const int Batch = 256;

    private SyntheticImages _images = null!;
    private CheckpointPageReader _reader = null!;
    private ulong[] _pages = null!;
    private ulong[] _spans = null!;
    private byte[] _buffer = null!;
    private int _pid;

    /// <summary>Writes the checkpoint, maps its pages file and picks the addresses.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _images = SyntheticImages.Create(256L << 20, 256);
        _reader = _images.Checkpoint.Pages;
        _pid = _images.Task.Pid;
        _pages = _images.PresentPages(Batch, 3);
        _spans = _images.PresentPages(Batch, 4).Select(a => a - (a % (64 * PageGeometry.PageSize))).ToArray();
        _buffer = new byte[64 * PageGeometry.PageSize];
        foreach (var page in _pages)
        {
            _reader.TryGetMappedPages(_pid, page, 1, out _);
        }
    }

    /// <summary>Deletes the checkpoint.</summary>
    [GlobalCleanup]
    public void Cleanup() => _images.Dispose();

    /// <summary>Zero-copy lookup of one page.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long TryGetMappedPages()
    {
        long sum = 0;
        foreach (var page in _pages)
        {
            if (_reader.TryGetMappedPages(_pid, page, 1, out var address))
            {
                sum += address;
            }
        }

        return sum;
    }

    /// <summary>Copying read of one page.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int ReadOnePage()
    {
        int sum = 0;
        var dest = _buffer.AsSpan(0, (int)PageGeometry.PageSize);
        foreach (var page in _pages)
        {
            sum += _reader.Read(_pid, page, 1, dest).PagesWithData;
        }

        return sum;
    }

    /// <summary>Copying read of 64 pages (256 KiB, may cross runs and holes).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int Read64Pages()
    {
        int sum = 0;
        foreach (var start in _spans)
        {
            sum += _reader.Read(_pid, start, 64, _buffer).PagesWithData;
        }

        return sum;
    }
}
