using LazyActors.Engine.Images;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Engine.Tests.Images;

/// <summary>
/// Issue 12's merge/split findings: a missing or foreign lazy part used to merge into a checkpoint without its lazy
/// pages (exit 0), split kept stale files of a non-empty output, and a failed merge left a half-written output.
/// </summary>
public sealed class SplitMergeSafetyTests : IDisposable
{
    private readonly ScratchDirectory _temp = new();

    public SplitMergeSafetyTests()
    {
        SyntheticCheckpoint.Write(_temp.Sub("src"), new SyntheticCheckpointOptions(2, 1L << 20, 0x1234));
        CheckpointSplitter.Split(_temp.Sub("src"), _temp.Sub("eager"), _temp.Sub("lazy"));
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Merge_refuses_a_lazy_set_that_does_not_exist_and_writes_nothing()
    {
        var error = Assert.Throws<ImageFormatException>(() => CheckpointMerger.Merge(_temp.Sub("eager"), _temp.Sub("missing"), _temp.Sub("out")));

        Assert.Contains(_temp.Sub("missing"), error.Message);
        Assert.Contains("does not exist", error.Message);
        AssertNoOutput("out");
    }

    [Theory]
    [InlineData(3, (ushort)0x1234)] // another tree: other pids
    [InlineData(2, (ushort)0x4321)] // the same pids, another dump
    public void Merge_refuses_the_lazy_set_of_another_checkpoint_and_writes_nothing(int tasks, ushort seed)
    {
        SyntheticCheckpoint.Write(_temp.Sub("other"), new SyntheticCheckpointOptions(tasks, 1L << 20, seed));
        CheckpointSplitter.Split(_temp.Sub("other"), _temp.Sub("other-eager"), _temp.Sub("other-lazy"));

        var error = Assert.Throws<ImageFormatException>(() => CheckpointMerger.Merge(_temp.Sub("eager"), _temp.Sub("other-lazy"), _temp.Sub("out")));

        Assert.Contains(_temp.Sub("other-lazy"), error.Message);
        Assert.Contains("another checkpoint", error.Message);
        AssertNoOutput("out");
    }

    [Fact]
    public void Merge_refuses_a_lazy_set_with_a_pagemap_missing()
    {
        var pagemap = Directory.GetFiles(_temp.Sub("lazy"), "pagemap-*.img")[0];
        File.Delete(pagemap);

        var error = Assert.Throws<ImageFormatException>(() => CheckpointMerger.Merge(_temp.Sub("eager"), _temp.Sub("lazy"), _temp.Sub("out")));

        Assert.Contains(pagemap, error.Message);
        Assert.Contains("missing", error.Message);
        AssertNoOutput("out");
    }

    [Fact]
    public void A_merge_that_fails_midway_leaves_no_output_and_no_staging_directory()
    {
        var pages = Directory.GetFiles(_temp.Sub("lazy"), "pages-*.img").OrderBy(p => p, StringComparer.Ordinal).Last();
        using (var stream = new FileStream(pages, FileMode.Open))
        {
            stream.SetLength(stream.Length - 4096);
        }

        var error = Assert.Throws<ImageFormatException>(() => CheckpointMerger.Merge(_temp.Sub("eager"), _temp.Sub("lazy"), _temp.Sub("out")));

        Assert.Contains("too short", error.Message);
        AssertNoOutput("out");
    }

    [Fact]
    public void Merge_refuses_lazy_pages_beyond_what_its_pagemap_describes()
    {
        var pages = Directory.GetFiles(_temp.Sub("lazy"), "pages-*.img")[0];
        File.AppendAllText(pages, new string('x', 4096));

        var error = Assert.Throws<ImageFormatException>(() => CheckpointMerger.Merge(_temp.Sub("eager"), _temp.Sub("lazy"), _temp.Sub("out")));

        Assert.Contains("4096 bytes more", error.Message);
        AssertNoOutput("out");
    }

    [Fact]
    public void Split_and_merge_refuse_a_non_empty_output_unless_forced_and_then_leave_no_stale_file()
    {
        var stale = Path.Combine(_temp.CreateSub("used"), "stale.img");
        File.WriteAllText(stale, "old");

        var split = Assert.Throws<IOException>(() => CheckpointSplitter.Split(_temp.Sub("src"), _temp.Sub("used"), _temp.Sub("l2")));
        Assert.Contains("not empty", split.Message);
        Assert.Contains(_temp.Sub("used"), split.Message);
        Assert.True(File.Exists(stale));
        AssertNoOutput("l2");
        var merge = Assert.Throws<IOException>(() => CheckpointMerger.Merge(_temp.Sub("eager"), _temp.Sub("lazy"), _temp.Sub("used")));
        Assert.Contains("not empty", merge.Message);

        CheckpointSplitter.Split(_temp.Sub("src"), _temp.Sub("used"), _temp.CreateSub("l2"), force: true);
        DirectoryAssert.Identical(_temp.Sub("eager"), _temp.Sub("used"));
        CheckpointMerger.Merge(_temp.Sub("used"), _temp.Sub("l2"), _temp.Sub("eager"), force: true);
        DirectoryAssert.Identical(_temp.Sub("src"), _temp.Sub("eager"));
        Assert.Empty(Directory.GetDirectories(_temp.Path, ".*"));
    }

    private void AssertNoOutput(string name)
    {
        Assert.False(Directory.Exists(_temp.Sub(name)), $"{name} was created");
        Assert.Empty(Directory.GetDirectories(_temp.Path, $".{name}.partial-*"));
    }
}
