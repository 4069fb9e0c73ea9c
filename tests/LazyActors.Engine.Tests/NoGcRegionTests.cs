using System.Runtime;
using Xunit;

namespace LazyActors.Engine.Tests;

/// <summary>The engine's no-GC region, started without a full blocking collection.</summary>
[Collection(NoGcRegionCollection.Name)]
public sealed class NoGcRegionTests
{
    [SkippableFact]
    public void The_region_holds_collections_off_within_its_budget_and_ends_with_dispose()
    {
        var region = NoGcRegion.TryStart(64L << 20);
        // Another engine of this test process may hold the process's one region at this moment.
        Skip.If(region is null && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion, "another test holds the process's no-GC region");
        Assert.NotNull(region);
        try
        {
            Assert.True(NoGcRegion.IsActive);
            var gen0 = GC.CollectionCount(0);
            var kept = new List<byte[]>();
            for (var i = 0; i < 1024; i++)
            {
                kept.Add(new byte[8 * 1024]);
            }

            GC.KeepAlive(kept);
            Assert.True(NoGcRegion.IsActive, "8 MiB allocated within a 64 MiB budget ended the region");
            Assert.Equal(gen0, GC.CollectionCount(0));
        }
        finally
        {
            region.Dispose();
        }

        Assert.False(NoGcRegion.IsActive);
        Assert.Null(NoGcRegion.TryStart(null));
        Assert.Null(NoGcRegion.TryStart(0));
    }
}

/// <summary>Tests that hold the process-wide no-GC region run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NoGcRegionCollection
{
    public const string Name = "no-GC region";
}
