using System.Runtime.InteropServices;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;
using Xunit;

namespace LazyActors.Engine.Tests.Pages;

/// <summary>
/// The shared page cache on its own, over a counting source: restores of one checkpoint read each page from the source
/// once and get the right bytes; memory stays within the capacity, evicting first what every attached restore has read.
/// </summary>
public sealed class SharedPageCacheTests
{
    private const int Pid = 1000;
    private const int PageBytes = (int)PageGeometry.PageSize;
    private const ulong Base = 0x7f00_0000_0000;
    private static ulong At(int page) => Base + ((ulong)page << PageGeometry.PageShift);

    [Fact]
    public async Task Two_restores_of_one_checkpoint_read_each_page_from_the_source_once_with_the_right_bytes()
    {
        using var cache = new SharedPageCache(1L << 20);
        var source = new CountingSource();
        using var first = cache.Attach("ckpt", () => source);
        using var second = cache.Attach("ckpt", () => throw new InvalidOperationException("the checkpoint's source is open already"));

        foreach (var restore in new[] { first, second })
        {
            await ReadAndCheckAsync(restore, 0, 8);
            await ReadAndCheckAsync(restore, 8, 8);
        }

        Assert.Equal(16, source.PagesRead);
        Assert.Equal(16, cache.MissPages);
        Assert.Equal(16, cache.HitPages);
        Assert.Equal(0, cache.EvictedPages);
    }

    [Fact]
    public async Task Each_restore_counts_its_own_hits_and_misses()
    {
        using var cache = new SharedPageCache(1L << 20);
        var source = new CountingSource();
        using var first = cache.Attach("ckpt", () => source);
        using var second = cache.Attach("ckpt", () => source);

        // The first reads pages 0-11, the second 8-15: 8-11 are its hits, 12-15 its own misses.
        await ReadAndCheckAsync(first, 0, 12);
        await ReadAndCheckAsync(second, 8, 8);

        Assert.Equal(12, first.CacheCounters!.MissPages);
        Assert.Equal(0, first.CacheCounters.HitPages);
        Assert.Equal(4, second.CacheCounters!.MissPages);
        Assert.Equal(4, second.CacheCounters.HitPages);
        Assert.Equal(4L << PageGeometry.PageShift, second.CacheCounters.MissBytes);
        Assert.Equal(cache.MissPages, first.CacheCounters.MissPages + second.CacheCounters.MissPages);
        Assert.Equal(cache.HitPages, first.CacheCounters.HitPages + second.CacheCounters.HitPages);
        Assert.Equal(16, source.PagesRead);
        Assert.Null(((IPageSource)source).CacheCounters);
    }

    [Fact]
    public async Task Memory_stays_within_the_capacity_evicting_first_what_every_restore_has_read()
    {
        using var cache = new SharedPageCache(16L << PageGeometry.PageShift);
        var source = new CountingSource();
        using var first = cache.Attach("ckpt", () => source);
        using var second = cache.Attach("ckpt", () => source);

        // Pages 0-7 read by both restores; pages 8-15 by the first only.
        await ReadAndCheckAsync(first, 0, 8);
        await ReadAndCheckAsync(second, 0, 8);
        await ReadAndCheckAsync(first, 8, 8);
        Assert.Equal(16L << PageGeometry.PageShift, cache.CachedBytes);

        // 8 more pages do not fit: what both have read goes, what the second still needs stays.
        await ReadAndCheckAsync(first, 16, 8);
        Assert.True(cache.CachedBytes <= cache.CapacityBytes, $"{cache.CachedBytes} bytes cached over a capacity of {cache.CapacityBytes}");
        Assert.Equal(8, cache.EvictedPages);
        var before = source.PagesRead;
        await ReadAndCheckAsync(second, 8, 8);
        Assert.Equal(before, source.PagesRead);
        await ReadAndCheckAsync(second, 0, 8);
        Assert.Equal(before + 8, source.PagesRead);
    }

    private static async Task ReadAndCheckAsync(IPageSource restore, int firstPage, int pages)
    {
        using var read = await restore.ReadAsync(Pid, At(firstPage), pages, ReadPriority.Fault, CancellationToken.None);
        var page = firstPage;
        foreach (var segment in read.Segments)
        {
            for (var i = 0; i < segment.Pages; i++, page++)
            {
                var first = Marshal.ReadByte(segment.Address + (i * PageBytes));
                var last = Marshal.ReadByte(segment.Address + (i * PageBytes) + PageBytes - 1);
                Assert.Equal(CountingSource.Fill(page), first);
                Assert.Equal(CountingSource.Fill(page), last);
            }
        }

        Assert.Equal(firstPage + pages, page);
    }

    /// <summary>Pages filled with a byte derived from their index, in native memory freed on dispose; reads counted.</summary>
    private sealed class CountingSource : IPageSource
    {
        private long _pagesRead;

        public long PagesRead => Interlocked.Read(ref _pagesRead);

        public static byte Fill(int page) => (byte)(0x40 + (page * 7 % 191));

        public unsafe ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, ReadPriority priority, CancellationToken cancellationToken)
        {
            Interlocked.Add(ref _pagesRead, pages);
            var length = (nuint)pages * PageBytes;
            var memory = NativeMemory.Alloc(length);
            var first = (int)((dumpAddress - Base) >> PageGeometry.PageShift);
            for (var i = 0; i < pages; i++)
            {
                new Span<byte>((byte*)memory + ((nint)i * PageBytes), PageBytes).Fill(Fill(first + i));
            }

            return ValueTask.FromResult(new PageRead([new PageSegment(dumpAddress, pages, (nint)memory)], () => NativeMemory.Free(memory)));
        }

        public void Dispose()
        {
        }
    }
}
