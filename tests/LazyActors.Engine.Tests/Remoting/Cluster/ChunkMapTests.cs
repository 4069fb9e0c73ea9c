using LazyActors.Engine.Images;
using LazyActors.Engine.Remoting.Cluster;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Engine.Tests.Remoting.Cluster;

/// <summary>
/// The fan-out's chunks: every lazy page of a checkpoint is in exactly one chunk, chunks never span lazy ranges, the
/// store offsets tile the store, and every node that builds the map of one checkpoint numbers the chunks alike.
/// </summary>
public sealed class ChunkMapTests
{
    [Fact]
    public void Every_lazy_page_is_in_exactly_one_chunk_and_the_offsets_tile_the_store()
    {
        using var work = new ScratchDirectory("chunks");
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(3, (2L << 20) + (5 * 4096), 0xC1));
        using var checkpoint = Checkpoint.Open(images);

        var map = ChunkMap.Of(checkpoint, 16);

        long lazyPages = checkpoint.Tasks.Sum(t => t.LazyRanges.Sum(r => (long)r.Pages));
        Assert.Equal(lazyPages * 4096, map.TotalBytes);
        long offset = 0;
        for (int i = 0; i < map.Count; i++)
        {
            var chunk = map[i];
            Assert.InRange(chunk.Pages, 1, 16);
            Assert.Equal(offset, chunk.StoreOffset);
            offset += chunk.Bytes;
            var range = checkpoint.GetTask(chunk.Pid).LazyRanges.Single(r => r.Start <= chunk.Vaddr && chunk.Vaddr < r.End);
            Assert.True(chunk.Vaddr + (ulong)chunk.Bytes <= range.End, $"chunk {i} spans past its lazy range");
        }

        Assert.Equal(map.TotalBytes, offset);
        foreach (var task in checkpoint.Tasks)
        {
            foreach (var range in task.LazyRanges)
            {
                for (ulong page = range.Start; page < range.End; page += 4096)
                {
                    Assert.True(map.TryFind(task.Pid, page, out int chunk, out int pageInChunk));
                    Assert.Equal(page, map[chunk].Vaddr + ((ulong)pageInChunk * 4096));
                }
            }
        }
    }

    [Fact]
    public void A_page_outside_the_lazy_ranges_is_not_found_and_the_distance_to_the_next_is_counted()
    {
        using var work = new ScratchDirectory("chunks");
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(1, 1L << 20, 0xC2));
        using var checkpoint = Checkpoint.Open(images);
        var map = ChunkMap.Of(checkpoint, 8);
        var task = checkpoint.Tasks[0];
        var first = task.LazyRanges[0];

        Assert.False(map.TryFind(task.Pid, first.Start - 4096, out _, out _));
        Assert.False(map.TryFind(task.Pid + 100000, first.Start, out _, out _));
        Assert.Equal(1, map.PagesUntilMapped(task.Pid, first.Start - 4096, 50));
        Assert.Equal(3, map.PagesUntilMapped(task.Pid, first.Start - (3 * 4096), 3));
    }

    [Fact]
    public void Two_maps_of_one_described_checkpoint_number_the_chunks_alike()
    {
        using var work = new ScratchDirectory("chunks");
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 3L << 20, 0xC3));
        using var checkpoint = Checkpoint.Open(images);
        var metadata = LazyActors.Engine.Remoting.CheckpointDescription.Of(checkpoint, "c", 65536, 0);
        using var described = LazyActors.Engine.Remoting.CheckpointDescription.ToCheckpoint(metadata, "peer");

        var here = ChunkMap.Of(checkpoint, 16);
        var there = ChunkMap.Of(described, 16);

        Assert.Equal(here.Count, there.Count);
        Assert.All(Enumerable.Range(0, here.Count), i => Assert.Equal(here[i], there[i]));
    }
}
