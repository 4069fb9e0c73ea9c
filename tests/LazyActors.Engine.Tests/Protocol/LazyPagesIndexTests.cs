using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Tests.Protocol.Support;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Engine.Tests.Protocol;

/// <summary>The page-pipe model a lazy server clamps GETs with (numbers as observed from CRIU 4.2's page-server).</summary>
public sealed class LazyPagesIndexTests
{
    private const ulong Page = PageGeometry.PageSize;
    private const PageFlags LazyPresent = PageFlags.Lazy | PageFlags.Present;

    [Fact]
    public void Adjacent_lazy_entries_are_one_run_as_in_criu_page_server()
    {
        // criu page-server served 256 pages for a GET of 300 at the start of a 251 + 5 page pair of entries
        var runs = LazyPagesIndex.CutRuns([Run(0x10000, 251, LazyPresent, 0), Run(0x10000 + (251 * Page), 5, LazyPresent, 251 * (long)Page)]);

        Assert.Equal([new ServedRun(0x10000, 256, 0)], runs);
    }

    [Fact]
    public void Runs_are_cut_where_the_lazy_pipe_holds_1024_pages_counted_across_runs()
    {
        // criu page-server, after 3 lazy pages elsewhere, served a 1280-page area as 1021 + 259
        var runs = LazyPagesIndex.CutRuns(
        [
            Run(0x1000, 1, PageFlags.Present, 0),
            Run(0x4000, 1, LazyPresent, 1 * (long)Page),
            Run(0x9000, 2, LazyPresent, 2 * (long)Page),
            Run(0x100000, 1280, LazyPresent, 4 * (long)Page),
        ]);

        Assert.Equal(
            [
                new ServedRun(0x4000, 1, 1 * (long)Page),
                new ServedRun(0x9000, 2, 2 * (long)Page),
                new ServedRun(0x100000, 1021, 4 * (long)Page),
                new ServedRun(0x100000 + (1021 * Page), 259, (4 + 1021) * (long)Page),
            ],
            runs);
    }

    [Fact]
    public void Parent_holes_add_nothing_and_non_lazy_entries_end_a_run()
    {
        var runs = LazyPagesIndex.CutRuns(
        [
            Run(0x10000, 4, LazyPresent, 0),
            Run(0x14000, 2, PageFlags.Parent, -1),
            Run(0x16000, 2, LazyPresent, 4 * (long)Page),
            Run(0x18000, 1, PageFlags.Present, 6 * (long)Page),
            Run(0x19000, 3, LazyPresent, 7 * (long)Page),
            Run(0x1c000, 2, PageFlags.Lazy, -1),
        ]);

        Assert.Equal(
            [
                new ServedRun(0x10000, 4, 0),
                new ServedRun(0x16000, 2, 4 * (long)Page),
                new ServedRun(0x19000, 3, 7 * (long)Page),
                new ServedRun(0x1c000, 2, -1),
            ],
            runs);
    }

    [Fact]
    public void Find_clamps_to_the_run_end_and_says_why_it_holds_nothing()
    {
        using var dir = new ScratchDirectory();
        TestCheckpoint.Write(dir.Path, new TestCheckpoint.TaskSpec(77,
        [
            new(0x10000, 4, LazyPresent),
            new(0x14000, 1, PageFlags.Present),
            new(0x20000, 2, PageFlags.Parent),
            new(0x30000, 2, PageFlags.Lazy),
        ]));
        using var checkpoint = Checkpoint.Open(dir.Path);
        var index = LazyPagesIndex.Build(checkpoint);

        Assert.Equal(new PageLookup(PageLookupResult.Found, 77, 3, (long)Page), index.Find(77, 0x11000, 100));
        Assert.Equal(new PageLookup(PageLookupResult.Found, 77, 2, 0), index.Find(77, 0x10000, 2));
        Assert.Equal(PageLookupResult.UnknownTask, index.Find(78, 0x10000, 1).Result);
        Assert.Equal(PageLookupResult.UnknownTask, index.Find((77UL << 8) | 1, 0x10000, 1).Result); // an encoded pre-copy id is no pid
        Assert.Equal(PageLookupResult.ZeroPages, index.Find(77, 0x10000, 0).Result);
        Assert.Equal(PageLookupResult.Unaligned, index.Find(77, 0x10008, 1).Result);
        Assert.Equal(PageLookupResult.NotLazy, index.Find(77, 0x14000, 1).Result);
        Assert.Equal(PageLookupResult.InParent, index.Find(77, 0x20000, 1).Result);
        Assert.Equal(PageLookupResult.NoData, index.Find(77, 0x30000, 1).Result);
        Assert.Equal(PageLookupResult.NotDumped, index.Find(77, 0x1000, 1).Result);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Every_fixture_serves_exactly_its_lazy_pages_with_data_in_runs_of_at_most_1024(string label)
    {
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf(label));
        var index = LazyPagesIndex.Build(checkpoint);
        foreach (var task in checkpoint.Tasks.Where(t => t.PagemapFile is not null))
        {
            var runs = index.RunsOf(task.Pid);
            var lazyWithData = task.Pagemap.Where(r => r.IsLazy && r.IsPresent && (r.Flags & PageFlags.Parent) == 0).Aggregate(0UL, (s, r) => s + r.NrPages);
            Assert.Equal(lazyWithData, runs.Where(r => r.HasData).Aggregate(0UL, (s, r) => s + r.NrPages));
            Assert.All(runs, r => Assert.InRange(r.NrPages, 1UL, (ulong)LazyPagesIndex.PipePages));
            Assert.All(runs.Zip(runs.Skip(1)), p => Assert.True(p.First.End <= p.Second.Vaddr));
            foreach (var run in runs.Where(r => r.HasData))
            {
                var lookup = index.Find((ulong)task.Pid, run.Vaddr, ulong.MaxValue);
                Assert.Equal(run.NrPages, lookup.Pages);
                var entry = task.Pagemap[task.FindRun(run.Vaddr)];
                Assert.Equal(entry.PagesFileOffset + (long)(run.Vaddr - entry.Vaddr), lookup.PagesFileOffset);
            }
        }
    }

    public static TheoryData<string> Fixtures => FixtureCatalog.All();

    private static PagemapRun Run(ulong vaddr, ulong pages, PageFlags flags, long offset) => new(vaddr, pages, flags, offset);
}
