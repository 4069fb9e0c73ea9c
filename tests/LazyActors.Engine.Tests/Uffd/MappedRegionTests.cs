using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;
using Xunit;

namespace LazyActors.Engine.Tests.Uffd;

public sealed class MappedRegionTests
{
    private const int Page = (int)PageGeometry.PageSize;

    [Fact]
    public void Map_RoundsUpToPages_AndDontNeedZeroes()
    {
        using var region = MappedRegion.Map(Page + 1);
        Assert.Equal((ulong)(2 * Page), region.Length);
        Assert.Equal(0UL, region.Start % Page);

        region.GetSpan(0, 2 * Page).Fill(0xAB);
        region.Madvise(MadviseAdvice.MADV_DONTNEED, Page, Page);

        Assert.True(region.GetSpan(0, Page).IndexOfAnyExcept((byte)0xAB) < 0);
        Assert.True(region.GetSpan(Page, Page).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void MapFixedNoReplace_OverExistingMapping_ReturnsNull_ElsewhereMapsExactly()
    {
        using var occupied = MappedRegion.Map(2 * Page);
        Assert.Null(MappedRegion.MapFixedNoReplace(occupied.Start, Page, ProtFlags.PROT_READ | ProtFlags.PROT_WRITE));

        var freed = MappedRegion.Map(Page);
        var address = freed.Start;
        freed.Unmap();
        using var placed = MappedRegion.MapFixedNoReplace(address, Page, ProtFlags.PROT_READ | ProtFlags.PROT_WRITE);

        Assert.NotNull(placed);
        Assert.Equal(address, placed.Start);
        placed.GetSpan(0, Page)[0] = 1;
    }

    [Fact]
    public void Remap_Grow_KeepsContent()
    {
        using var region = MappedRegion.Map(Page);
        region.GetSpan(0, Page).Fill(0x5A);

        region.Remap(4 * Page);

        Assert.Equal((ulong)(4 * Page), region.Length);
        Assert.True(region.GetSpan(0, Page).IndexOfAnyExcept((byte)0x5A) < 0);
        Assert.True(region.GetSpan(Page, 3 * Page).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void Unmap_IsIdempotent_AndBlocksFurtherUse()
    {
        var region = MappedRegion.Map(Page);
        region.Protect(ProtFlags.PROT_READ);

        region.Unmap();
        region.Dispose();

        Assert.True(region.IsUnmapped);
        Assert.Throws<ObjectDisposedException>(() => region.GetSpan(0, 1).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => MappedRegion.Map(0));
    }

    [Fact]
    public void GetSpan_OutsideRegion_Throws()
    {
        using var region = MappedRegion.Map(Page);
        Assert.Throws<ArgumentOutOfRangeException>(() => region.GetSpan(1, Page).Length);
    }
}
