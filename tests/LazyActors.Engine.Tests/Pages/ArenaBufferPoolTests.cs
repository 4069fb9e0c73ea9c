using LazyActors.Engine.Pages;
using Xunit;

namespace LazyActors.Engine.Tests.Pages;

public sealed class ArenaBufferPoolTests
{
    private const int Page = 4096;

    [Fact]
    public async Task Blocks_are_aligned_to_their_size_inside_a_huge_page_aligned_arena_and_writable()
    {
        using var pool = new ArenaBufferPool(1 << 20, 4 << 20, hugePages: true);
        Assert.Equal(4 << 20, pool.ArenaBytes);
        var small = await pool.RentAsync(3 * Page, CancellationToken.None);
        var big = await pool.RentAsync(1 << 20, CancellationToken.None);
        Assert.Equal(0, small % (4 * Page));
        Assert.Equal(0, big % (1 << 20));
        unsafe
        {
            new Span<byte>((void*)small, 4 * Page).Fill(0xAB);
            new Span<byte>((void*)big, 1 << 20).Fill(0xCD);
            Assert.Equal(0xAB, ((byte*)small)[(4 * Page) - 1]);
        }

        Assert.Equal((4 * Page) + (1 << 20), pool.RentedBytes);
        pool.Return(small, 3 * Page);
        pool.Return(big, 1 << 20);
        Assert.Equal(0, pool.RentedBytes);
    }

    [Fact]
    public async Task Split_blocks_merge_back_so_the_whole_arena_can_be_rented_as_big_blocks_again()
    {
        using var pool = new ArenaBufferPool(1 << 20, 2 << 20, hugePages: false);
        var pages = new List<nint>();
        for (var i = 0; i < 512; i++)
        {
            pages.Add(await pool.RentAsync(Page, CancellationToken.None));
        }

        Assert.Equal(512, pages.Distinct().Count());
        var none = pool.RentAsync(Page, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(none.IsCompleted); // every page rented
        foreach (var page in pages)
        {
            pool.Return(page, Page);
        }

        pool.Return(await none.WaitAsync(TimeSpan.FromSeconds(5)), Page);
        var first = await pool.RentAsync(1 << 20, CancellationToken.None);
        var second = await pool.RentAsync(1 << 20, CancellationToken.None);
        Assert.Equal(1 << 20, Math.Abs(second - first));
    }

    [Fact]
    public async Task Renting_waits_while_no_block_fits_and_a_return_that_frees_one_lets_it_go_on()
    {
        using var pool = new ArenaBufferPool(1 << 20, 2 << 20, hugePages: false);
        var first = await pool.RentAsync(1 << 20, CancellationToken.None);
        var quarter = await pool.RentAsync(256 << 10, CancellationToken.None);
        var big = pool.RentAsync(1 << 20, CancellationToken.None).AsTask();
        await Task.Delay(100);
        Assert.False(big.IsCompleted); // 768 KiB are free, but no 1 MiB block

        pool.Return(quarter, 256 << 10);
        Assert.NotEqual(first, await big.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(2 << 20, pool.RentedBytes);
    }

    [Fact]
    public async Task A_waiting_rent_can_be_cancelled_and_a_foreign_or_too_large_block_is_refused()
    {
        using var pool = new ArenaBufferPool(Page, Page, hugePages: false);
        var only = await pool.RentAsync(Page, CancellationToken.None);
        using var cancel = new CancellationTokenSource(50);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pool.RentAsync(Page, cancel.Token).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => pool.RentAsync(2 * Page, CancellationToken.None).AsTask());
        Assert.Throws<ArgumentException>(() => pool.Return(only + Page, Page));
    }

    [SkippableFact]
    public async Task Populating_writes_every_page_so_receiving_into_the_arena_takes_no_first_touch_faults()
    {
        using var pool = new ArenaBufferPool(4 << 20, 16 << 20, hugePages: true);
        Skip.IfNot(await pool.PopulateAsync(), "the kernel refuses MADV_POPULATE_WRITE (Linux 5.14+)");

        var block = await pool.RentAsync(4 << 20, CancellationToken.None);
        var before = MinorFaults();
        unsafe
        {
            new Span<byte>((void*)block, 4 << 20).Fill(0x5A);
        }

        // 4 MiB of fresh 4 KiB pages would be 1,024 faults; a few may come from the runtime on this thread meanwhile.
        Assert.True(MinorFaults() - before < 64, $"{MinorFaults() - before} minor faults writing a populated 4 MiB block");
        pool.Return(block, 4 << 20);
    }

    [Fact]
    public async Task Dispose_wakes_a_waiting_rent_which_then_fails()
    {
        var pool = new ArenaBufferPool(Page, Page, hugePages: false);
        _ = await pool.RentAsync(Page, CancellationToken.None);
        var waiting = pool.RentAsync(Page, CancellationToken.None).AsTask();
        pool.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    /// <summary>The calling thread's minor faults (RUSAGE_THREAD), from /proc/thread-self/stat field 10.</summary>
    private static long MinorFaults()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], System.Globalization.CultureInfo.InvariantCulture);
    }
}
