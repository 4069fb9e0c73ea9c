using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Engine.Tests.Images;

/// <summary>Lazy ranges are CRIU's collect_iovs: PE_LAZY entries cut at VMA ends; plus never-dumped lazy-capable parts.</summary>
public sealed class LazyRangeTests
{
    private const ulong Page = PageGeometry.PageSize;

    public static TheoryData<string> Fixtures => FixtureCatalog.All();

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Lazy_ranges_are_the_lazy_entries_cut_at_vma_ends_from_the_manifest(string label)
    {
        var manifest = FixtureCatalog.Manifest(label);
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf(label));
        foreach (var expectedTask in manifest.GetProperty("tasks").EnumerateArray())
        {
            var task = checkpoint.GetTask(expectedTask.GetProperty("image_pid").GetInt32());
            var expected = expectedTask.GetProperty("pagemap").EnumerateArray()
                .Where(e => (e.GetProperty("flags").GetUInt32() & (uint)PageFlags.Lazy) != 0)
                .SelectMany(e => e.GetProperty("vma_parts").EnumerateArray())
                .Select(part => new LazyRange(part.GetProperty("start").GetUInt64(), part.GetProperty("end").GetUInt64()))
                .ToList();
            Assert.Equal(expected, task.LazyRanges);
            Assert.Equal(task.LazyPages, (ulong)task.LazyRanges.Sum(r => (long)r.Pages));
            Assert.All(task.LazyRanges, r => Assert.Single(task.Vmas, v => v.Start <= r.Start && r.End <= v.End && v.IsLazyCapable));
        }
    }

    [Fact]
    public void Threads_fixture_entry_spanning_two_vmas_is_cut_in_two()
    {
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf("copied/threads"));
        var task = checkpoint.Tasks[0];
        var spanning = task.Pagemap.Where(r => r.IsLazy && task.Vmas.Count(v => v.Start < r.End && r.Vaddr < v.End) == 2).ToList();
        var run = Assert.Single(spanning);
        var pieces = task.LazyRanges.Where(r => r.Start >= run.Vaddr && r.End <= run.End).ToList();
        Assert.Equal(2, pieces.Count);
        Assert.Equal(run.Vaddr, pieces[0].Start);
        Assert.Equal(pieces[0].End, pieces[1].Start);
        Assert.Equal(run.End, pieces[1].End);
        Assert.Contains(task.Vmas, v => v.End == pieces[0].End);
    }

    [Fact]
    public void Adjacent_entries_with_same_flags_stay_separate_ranges()
    {
        var vmas = new[] { AnonVma(0x10000, 0x10000 + 300 * Page) };
        var runs = new[]
        {
            new PagemapRun(0x10000, 251, PageFlags.Lazy | PageFlags.Present, 0),
            new PagemapRun(0x10000 + 251 * Page, 5, PageFlags.Lazy | PageFlags.Present, 251 * (long)Page),
        };
        Assert.Equal(
            [new LazyRange(0x10000, 0x10000 + 251 * Page), new LazyRange(0x10000 + 251 * Page, 0x10000 + 256 * Page)],
            LazyRangeCalculator.CollectLazyRanges(runs, vmas));
    }

    [Fact]
    public void Lazy_only_entries_count_and_non_lazy_entries_do_not()
    {
        var vmas = new[] { AnonVma(0x10000, 0x20000), AnonVma(0x20000, 0x30000) };
        var runs = new[]
        {
            new PagemapRun(0x10000, 2, PageFlags.Present, 0),
            new PagemapRun(0x1e000, 4, PageFlags.Lazy, -1),
        };
        Assert.Equal(
            [new LazyRange(0x1e000, 0x20000), new LazyRange(0x20000, 0x22000)],
            LazyRangeCalculator.CollectLazyRanges(runs, vmas));
    }

    /// <summary>
    /// An entry that runs 4 pages past its VMA into a file-backed mapping: the 16 pages inside the anonymous VMA are
    /// served, the 4 others no restorer registers or fills (CRIU skips PE_LAZY pages), so they are unservable.
    /// </summary>
    [Fact]
    public void Pages_of_a_lazy_entry_outside_lazy_capable_vmas_are_unservable_and_the_rest_is_kept()
    {
        var vmas = new[] { AnonVma(0x10000, 0x10000 + (16 * Page)), FileVma(0x10000 + (16 * Page), 0x10000 + (32 * Page)) };
        var runs = new[] { new PagemapRun(0x10000, 20, PageFlags.Lazy | PageFlags.Present, 0) };
        Assert.Equal([new LazyRange(0x10000, 0x10000 + (16 * Page))], LazyRangeCalculator.CollectLazyRanges(runs, vmas));
        Assert.Equal([new LazyRange(0x10000 + (16 * Page), 0x10000 + (20 * Page))], LazyRangeCalculator.CollectUnservableLazyRanges(runs, vmas));
    }

    [Fact]
    public void Lazy_pages_in_gaps_between_vmas_and_past_the_last_are_unservable()
    {
        var vmas = new[] { AnonVma(0x20000, 0x24000), AnonVma(0x26000, 0x28000) };
        var runs = new[]
        {
            new PagemapRun(0x1e000, 12, PageFlags.Lazy, -1), // 0x1e000-0x2a000: gap, VMA, gap, VMA, past the end
        };
        Assert.Equal([new LazyRange(0x20000, 0x24000), new LazyRange(0x26000, 0x28000)], LazyRangeCalculator.CollectLazyRanges(runs, vmas));
        Assert.Equal(
            [new LazyRange(0x1e000, 0x20000), new LazyRange(0x24000, 0x26000), new LazyRange(0x28000, 0x2a000)],
            LazyRangeCalculator.CollectUnservableLazyRanges(runs, vmas));
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Real_dumps_have_no_unservable_lazy_pages(string label)
    {
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf(label));
        Assert.All(checkpoint.Tasks, t => Assert.Empty(t.UnservableLazyRanges));
        checkpoint.RequireLazyPagesServable();
    }

    [Fact]
    public void A_checkpoint_with_unservable_lazy_pages_is_refused_naming_the_pagemap_and_the_range()
    {
        using var temp = new ScratchDirectory();
        LazyActors.Tools.Synthetic.SyntheticCheckpoint.Write(temp.Path, new LazyActors.Tools.Synthetic.SyntheticCheckpointOptions(1, 1 << 20, 3));
        const int pid = LazyActors.Tools.Synthetic.SyntheticCheckpoint.FirstPid;
        LazyActors.Tools.Synthetic.CraftedMemory.Write(temp.Path, pid,
            [new(0x10000000, 0x10000000 + (16 * Page)), new(0x10000000 + (16 * Page), 0x10000000 + (32 * Page), Prot: 1, LazyCapable: false)],
            [new(0x10000000, 20)]);

        using var checkpoint = Checkpoint.Open(temp.Path);
        var ex = Assert.Throws<ImageFormatException>(checkpoint.RequireLazyPagesServable);
        Assert.Equal(Path.Combine(temp.Path, $"pagemap-{pid}.img"), ex.FilePath);
        Assert.Contains($"4 PE_LAZY page(s) of pid {pid} at 0x{0x10000000 + (16 * Page):x}-0x{0x10000000 + (20 * Page):x}", ex.Message);
        Assert.Equal(16UL, checkpoint.GetTask(pid).LazyRanges.Aggregate(0UL, (sum, r) => sum + r.Pages));
    }

    [Fact]
    public void The_first_lazy_page_of_every_lazy_vma_is_listed_once()
    {
        using var temp = new ScratchDirectory();
        LazyActors.Tools.Synthetic.SyntheticCheckpoint.Write(temp.Path, new LazyActors.Tools.Synthetic.SyntheticCheckpointOptions(1, 1 << 20, 3));
        const int pid = LazyActors.Tools.Synthetic.SyntheticCheckpoint.FirstPid;
        const ulong a = 0x10000000;
        LazyActors.Tools.Synthetic.CraftedMemory.Write(temp.Path, pid,
            [new(a, a + (16 * Page)), new(a + (16 * Page), a + (24 * Page), Prot: 1), new(a + (32 * Page), a + (40 * Page))],
            [new(a + (2 * Page), 2), new(a + (8 * Page), 12), new(a + (34 * Page), 1, Lazy: false)]);
        using var checkpoint = Checkpoint.Open(temp.Path);
        Assert.Equal([a + (2 * Page), a + (16 * Page)], checkpoint.GetTask(pid).FirstLazyPageOfEachVma());
    }

    [Fact]
    public void Holes_and_zero_never_dumped_pages_exclude_the_guard_page()
    {
        var manifest = FixtureCatalog.Manifest("copied/holes-and-zero");
        var buffer = manifest.GetProperty("tasks")[0].GetProperty("buffers")[0];
        ulong address = buffer.GetProperty("addr").GetUInt64();
        string layout = buffer.GetProperty("layout").GetString()!;
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf("copied/holes-and-zero"));
        var task = checkpoint.Tasks[0];
        for (int p = 0; p < layout.Length; p++)
        {
            ulong page = address + (ulong)p * Page;
            bool neverDumped = task.NeverDumpedLazyCapable.Any(r => r.Start <= page && page < r.End);
            Assert.Equal(layout[p] is '.' or 'D', neverDumped);
        }

        Assert.Single(task.GuardVmas);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Every_lazy_capable_page_is_dumped_guarded_or_never_dumped_exactly_once(string label)
    {
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf(label));
        foreach (var task in checkpoint.Tasks)
        {
            foreach (var vma in task.Vmas.Where(v => v.IsLazyCapable))
            {
                ulong covered = 0;
                covered += Overlap(task.Pagemap.Select(r => new LazyRange(r.Vaddr, r.End)), vma);
                covered += Overlap(task.GuardVmas.Select(g => new LazyRange(g.Start, g.End)), vma);
                covered += Overlap(task.NeverDumpedLazyCapable, vma);
                Assert.Equal(vma.Length, covered);
            }

            Assert.All(task.NeverDumpedLazyCapable, r => Assert.Null(task.Pagemap.Cast<PagemapRun?>().FirstOrDefault(x => x!.Value.Vaddr < r.End && r.Start < x.Value.End)));
        }
    }

    private static ulong Overlap(IEnumerable<LazyRange> ranges, Vma vma) =>
        ranges.Aggregate(0UL, (sum, r) => sum + (Math.Min(r.End, vma.End) > Math.Max(r.Start, vma.Start) ? Math.Min(r.End, vma.End) - Math.Max(r.Start, vma.Start) : 0));

    private static Vma AnonVma(ulong start, ulong end) =>
        new(start, end, 0, 0, 3, MapFlags.Private | MapFlags.Anonymous, VmaStatus.Regular | VmaStatus.AnonPrivate);

    private static Vma FileVma(ulong start, ulong end) =>
        new(start, end, 0, 0, 1, MapFlags.Private, VmaStatus.Regular | VmaStatus.FilePrivate);
}
