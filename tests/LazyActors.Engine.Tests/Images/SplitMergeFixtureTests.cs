using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Engine.Tests.Images;

/// <summary>split produces the lazy-dump shape plus a servable lazy set, and merge(split(x)) equals x byte for byte.</summary>
public sealed class SplitMergeFixtureTests
{
    public static TheoryData<string> Fixtures => FixtureCatalog.All();

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Merge_of_split_is_byte_identical(string label)
    {
        string source = FixtureCatalog.PathOf(label);
        using var temp = new ScratchDirectory();
        CheckpointSplitter.Split(source, temp.Sub("eager"), temp.Sub("lazy"));
        CheckpointMerger.Merge(temp.Sub("eager"), temp.Sub("lazy"), temp.Sub("merged"));
        DirectoryAssert.Identical(source, temp.Sub("merged"));
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Eager_set_has_the_lazy_dump_shape_and_lazy_set_serves_the_lazy_pages(string label)
    {
        string source = FixtureCatalog.PathOf(label);
        using var temp = new ScratchDirectory();
        CheckpointSplitter.Split(source, temp.Sub("eager"), temp.Sub("lazy"));
        using var original = Checkpoint.Open(source);
        using var eager = Checkpoint.Open(temp.Sub("eager"));
        using var lazy = Checkpoint.Open(temp.Sub("lazy"));
        var page = new byte[PageGeometry.PageSize];
        var expected = new byte[PageGeometry.PageSize];
        foreach (var task in original.Tasks)
        {
            var eagerTask = eager.GetTask(task.Pid);
            var lazyTask = lazy.GetTask(task.Pid);
            Assert.Equal(task.Vmas, eagerTask.Vmas);
            Assert.Equal(task.LazyRanges, eagerTask.LazyRanges);
            Assert.Equal(task.Pagemap.Select(r => (r.Vaddr, r.NrPages)), eagerTask.Pagemap.Select(r => (r.Vaddr, r.NrPages)));
            Assert.All(eagerTask.Pagemap, r => Assert.False(r.IsLazy && r.IsPresent, "no PE_LAZY|PE_PRESENT left in the eager set"));
            Assert.Equal(task.Pagemap.Where(r => r.IsPresent && !r.IsLazy).Sum(r => (long)r.NrPages), (long)eagerTask.PresentPages);
            Assert.Equal((long)(eagerTask.PresentPages * PageGeometry.PageSize), new FileInfo(Path.Combine(temp.Sub("eager"), $"pages-{task.PagesId}.img")).Length);
            Assert.All(lazyTask.Pagemap, r => Assert.Equal(PageFlags.Lazy | PageFlags.Present, r.Flags));
            Assert.Equal(
                task.Pagemap.Where(r => r.IsLazy && r.IsPresent).Select(r => (r.Vaddr, r.NrPages)),
                lazyTask.Pagemap.Select(r => (r.Vaddr, r.NrPages)));

            foreach (var run in task.Pagemap.Where(r => r.IsPresent))
            {
                for (ulong k = 0; k < run.NrPages; k++)
                {
                    ulong address = run.Vaddr + (k * PageGeometry.PageSize);
                    original.Pages.Read(task.Pid, address, 1, expected);
                    if (run.IsLazy)
                    {
                        Assert.Throws<PageDataUnavailableException>(() => eager.Pages.Read(task.Pid, address, 1, page));
                        Assert.Equal(new PageReadResult(1, 0), lazy.Pages.Read(task.Pid, address, 1, page));
                    }
                    else
                    {
                        Assert.Equal(new PageReadResult(1, 0), eager.Pages.Read(task.Pid, address, 1, page));
                    }

                    Assert.True(expected.AsSpan().SequenceEqual(page));
                }
            }
        }
    }
}
