using LazyActors.Engine.Pages;
using Xunit;

namespace LazyActors.Engine.Tests.Pages;

public sealed class SizeClassBufferPoolTests
{
    private const int Page = 4096;

    [Theory]
    [InlineData(1, Page)]
    [InlineData(Page, Page)]
    [InlineData(Page + 1, 2 * Page)]
    [InlineData(3 * Page, 4 * Page)]
    [InlineData(1 << 20, 1 << 20)]
    public void Sizes_round_up_to_a_power_of_two_of_at_least_a_page(int bytes, long size) =>
        Assert.Equal(size, SizeClassBufferPool.RoundUp(bytes));

    [Fact]
    public async Task Buffers_are_page_aligned_writable_and_reused_per_size()
    {
        using var pool = new SizeClassBufferPool(1 << 20, 4 << 20);
        var small = await pool.RentAsync(3 * Page, CancellationToken.None);
        var big = await pool.RentAsync(1 << 20, CancellationToken.None);
        Assert.Equal(0, small % Page);
        Assert.Equal(0, big % Page);
        unsafe
        {
            new Span<byte>((void*)small, 4 * Page).Fill(0xAB);
            new Span<byte>((void*)big, 1 << 20).Fill(0xCD);
        }

        Assert.Equal((4 * Page) + (1 << 20), pool.RentedBytes);
        pool.Return(small, 3 * Page);
        Assert.Equal(small, await pool.RentAsync(4 * Page, CancellationToken.None)); // same class: the same buffer
        Assert.Equal((4 * Page) + (1 << 20), pool.AllocatedBytes);
    }

    [Fact]
    public async Task Renting_waits_while_the_budget_is_spent_and_a_return_lets_it_go_on()
    {
        using var pool = new SizeClassBufferPool(1 << 20, 2 << 20);
        var first = await pool.RentAsync(1 << 20, CancellationToken.None);
        _ = await pool.RentAsync(1 << 20, CancellationToken.None);
        var third = pool.RentAsync(Page, CancellationToken.None).AsTask();
        await Task.Delay(100);
        Assert.False(third.IsCompleted);

        pool.Return(first, 1 << 20);
        await third.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal((1 << 20) + Page, pool.RentedBytes);
    }

    [Fact]
    public async Task A_waiting_rent_can_be_cancelled_and_a_too_large_one_is_refused()
    {
        using var pool = new SizeClassBufferPool(Page, Page);
        _ = await pool.RentAsync(Page, CancellationToken.None);
        using var cancel = new CancellationTokenSource(50);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pool.RentAsync(Page, cancel.Token).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => pool.RentAsync(2 * Page, CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task With_huge_pages_a_big_buffer_is_its_own_2MiB_aligned_mapping_advised_hugepage_and_unmapped_on_dispose()
    {
        var pool = new SizeClassBufferPool(4 << 20, 8 << 20, hugePages: true);
        nint big;
        nint small;
        try
        {
            big = await pool.RentAsync(4 << 20, CancellationToken.None);
            small = await pool.RentAsync(64 << 10, CancellationToken.None);
            Assert.Equal(0, big % SizeClassBufferPool.HugePageBytes);
            unsafe
            {
                new Span<byte>((void*)big, 4 << 20).Fill(0x5A);
                new Span<byte>((void*)small, 64 << 10).Fill(0xA5);
                Assert.Equal(0x5A, ((byte*)big)[(4 << 20) - 1]);
            }

            // The kernel records MADV_HUGEPAGE as "hg" in the mapping's VmFlags whether or not huge pages are free now.
            var mapping = SmapsEntry(big);
            Assert.NotNull(mapping);
            Assert.Equal(big, mapping.Value.Start);
            Assert.Equal(big + (4 << 20), mapping.Value.End);
            Assert.Contains(" hg", mapping.Value.VmFlags, StringComparison.Ordinal);
            Assert.DoesNotContain(" hg", SmapsEntry(small)?.VmFlags ?? string.Empty, StringComparison.Ordinal); // small ones: plain heap

            pool.Return(big, 4 << 20);
            Assert.Equal(big, await pool.RentAsync(3 << 20, CancellationToken.None)); // same class, same mapping
        }
        finally
        {
            pool.Dispose();
        }

        Assert.Null(SmapsEntry(big));
    }

    private static (nint Start, nint End, string VmFlags)? SmapsEntry(nint address)
    {
        (nint Start, nint End, string VmFlags)? found = null;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-', StringComparison.Ordinal);
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (dash > 0 && space > dash && line.Length > 8 && Uri.IsHexDigit(line[0]) &&
                nint.TryParse(line.AsSpan(0, dash), System.Globalization.NumberStyles.HexNumber, null, out var start) &&
                nint.TryParse(line.AsSpan(dash + 1, space - dash - 1), System.Globalization.NumberStyles.HexNumber, null, out var end))
            {
                if (found is not null)
                {
                    return found;
                }

                if (address >= start && address < end)
                {
                    found = (start, end, string.Empty);
                }
            }
            else if (found is not null && line.StartsWith("VmFlags:", StringComparison.Ordinal))
            {
                found = (found.Value.Start, found.Value.End, line);
            }
        }

        return found;
    }
}
