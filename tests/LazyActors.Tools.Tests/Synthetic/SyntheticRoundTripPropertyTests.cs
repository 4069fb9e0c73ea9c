using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Tools.Tests.Synthetic;

/// <summary>
/// Seeded-random property tests: a random synthetic checkpoint, once written, reads back as planned (pstree, VMAs,
/// pagemap, offsets, bytes, lazy ranges), and merge(split(x)) equals x byte for byte.
/// </summary>
public sealed class SyntheticRoundTripPropertyTests
{
    private const int PageSize = (int)PageGeometry.PageSize;
    private const int Seeds = 50;

    [Fact]
    public void Written_checkpoint_reads_back_as_planned()
    {
        for (int seed = 1; seed <= Seeds; seed++)
        {
            var options = RandomOptions(seed);
            using var temp = new ScratchDirectory();
            var layout = SyntheticCheckpoint.Write(temp.Path, options);
            using var checkpoint = Checkpoint.Open(temp.Path);

            Assert.Equal(layout.PstreeOrder.Select(i => layout.Tasks[i].Pid), checkpoint.Tasks.Select(t => t.Pid));
            foreach (var planned in layout.Tasks)
            {
                var task = checkpoint.GetTask(planned.Pid);
                Assert.Equal(planned.Ppid, task.Ppid);
                Assert.Equal([planned.Pid], task.Threads);
                Assert.Equal(TaskState.Alive, task.State);
                Assert.Equal(planned.PagesId, task.PagesId);
                Assert.Equal(planned.Vmas, task.Vmas);
                Assert.Empty(task.GuardVmas);
                Assert.Equal(planned.Pagemap, task.Pagemap);
                AssertPages(options.Seed, planned, checkpoint);
                AssertLazyRanges(task);
                Assert.All(task.Pagemap, r => Assert.InRange(r.NrPages, 1UL, (ulong)options.MaxEntryPages));
            }
        }
    }

    [Fact]
    public void Pages_file_offsets_follow_the_present_entry_rule()
    {
        for (int seed = 1; seed <= Seeds; seed++)
        {
            var options = RandomOptions(seed);
            using var temp = new ScratchDirectory();
            SyntheticCheckpoint.Write(temp.Sub("source"), options);
            CheckpointSplitter.Split(temp.Sub("source"), temp.Sub("eager"), temp.Sub("lazy"));
            foreach (string dir in new[] { temp.Sub("source"), temp.Sub("eager"), temp.Sub("lazy") })
            {
                using var checkpoint = Checkpoint.Open(dir);
                foreach (var task in checkpoint.Tasks)
                {
                    long offset = 0;
                    foreach (var run in task.Pagemap)
                    {
                        Assert.Equal(run.IsPresent ? offset : -1, run.PagesFileOffset);
                        offset += run.IsPresent ? (long)run.NrPages * PageSize : 0;
                    }

                    Assert.Equal(offset, new FileInfo(Path.Combine(dir, $"pages-{task.PagesId}.img")).Length);
                }
            }
        }
    }

    [Fact]
    public void Merge_of_split_is_byte_identical()
    {
        for (int seed = 1; seed <= Seeds; seed++)
        {
            var options = RandomOptions(seed);
            using var temp = new ScratchDirectory();
            string source = temp.Sub("source");
            SyntheticCheckpoint.Write(source, options);
            CheckpointSplitter.Split(source, temp.Sub("eager"), temp.Sub("lazy"));
            CheckpointMerger.Merge(temp.Sub("eager"), temp.Sub("lazy"), temp.Sub("merged"));
            DirectoryAssert.Identical(source, temp.Sub("merged"));

            // Splitting the eager (lazy-dump shaped) set again moves nothing and still merges back.
            CheckpointSplitter.Split(temp.Sub("eager"), temp.Sub("eager2"), temp.Sub("lazy2"));
            DirectoryAssert.Identical(temp.Sub("eager"), temp.Sub("eager2"));
        }
    }

    [Fact]
    public void Writing_is_deterministic()
    {
        var options = RandomOptions(7);
        using var temp = new ScratchDirectory();
        SyntheticCheckpoint.Write(temp.Sub("a"), options);
        SyntheticCheckpoint.Write(temp.Sub("b"), options);
        DirectoryAssert.Identical(temp.Sub("a"), temp.Sub("b"));
    }

    [Fact]
    public void Adjacent_lazy_vmas_produce_an_entry_spanning_both_that_lazy_ranges_cut()
    {
        var options = new SyntheticCheckpointOptions(1, 64 * PageSize, 0x1234) { HoleBlockOneIn = 0, ZeroPageOneIn = 0 };
        using var temp = new ScratchDirectory();
        var layout = SyntheticCheckpoint.Write(temp.Path, options);
        using var checkpoint = Checkpoint.Open(temp.Path);
        var task = checkpoint.Tasks[0];
        var boundary = layout.Tasks[0].Buffers[1].End;
        Assert.Equal(layout.Tasks[0].Buffers[2].Address, boundary);
        Assert.Contains(task.Pagemap, r => r.Vaddr < boundary && boundary < r.End);
        Assert.Contains(task.LazyRanges, r => r.End == boundary);
        Assert.Contains(task.LazyRanges, r => r.Start == boundary);
    }

    private static SyntheticCheckpointOptions RandomOptions(int seed)
    {
        var random = new Random(seed);
        int[] entrySizes = [1, 3, 16, 64, 256];
        return new SyntheticCheckpointOptions(random.Next(1, 5), random.Next(1, 400) * (long)PageSize, (ushort)random.Next(0, 0x10000))
        {
            LazyVmasPerTask = random.Next(1, 5),
            LockedPages = random.Next(0, 4),
            MaxEntryPages = entrySizes[random.Next(entrySizes.Length)],
            HoleBlockOneIn = random.Next(0, 5),
            ZeroPageOneIn = random.Next(0, 8),
            SameAddressesForAllTasks = random.Next(2) == 0,
        };
    }

    private static void AssertPages(ushort seed, SyntheticTask planned, Checkpoint checkpoint)
    {
        foreach (var buffer in planned.Buffers)
        {
            var bytes = new byte[buffer.Pages * PageSize];
            var result = checkpoint.Pages.Read(planned.Pid, buffer.Address, buffer.Pages, bytes);
            int holes = buffer.Layout.Count(c => c == '.');
            Assert.Equal(new PageReadResult(buffer.Pages - holes, holes), result);
            for (int p = 0; p < buffer.Pages; p++)
            {
                var expected = buffer.Layout[p] == 'P' ? PagePattern.Page(seed, (ulong)planned.Index, (ulong)buffer.Index, p) : new byte[PageSize];
                Assert.True(expected.AsSpan().SequenceEqual(bytes.AsSpan(p * PageSize, PageSize)), $"task {planned.Index} b={buffer.Index} page {p} ({buffer.Layout[p]})");
            }
        }
    }

    private static void AssertLazyRanges(TaskImages task)
    {
        var lazyRuns = task.Pagemap.Where(r => r.IsLazy).ToList();
        Assert.Equal(lazyRuns.Sum(r => (long)r.NrPages), task.LazyRanges.Sum(r => (long)r.Pages));
        foreach (var range in task.LazyRanges)
        {
            Assert.Single(task.Vmas, v => v.Start <= range.Start && range.End <= v.End);
            var run = Assert.Single(lazyRuns, r => r.Vaddr <= range.Start && range.End <= r.End);
            Assert.True(range.End == run.End || task.Vmas.Any(v => v.End == range.End), "ranges end at an entry end or a VMA end");
        }
    }
}
