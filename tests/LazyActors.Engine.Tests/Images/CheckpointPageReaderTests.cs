using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Engine.Tests.Images;

/// <summary>Edge cases of <see cref="CheckpointPageReader"/>: spans across entries and gaps, zero-copy limits, bad arguments, concurrency.</summary>
public sealed class CheckpointPageReaderTests
{
    private const int PageSize = (int)PageGeometry.PageSize;

    [Fact]
    public void Zero_copy_is_only_offered_inside_one_present_entry()
    {
        using var temp = new ScratchDirectory();
        var layout = SyntheticCheckpoint.Write(temp.Path, new SyntheticCheckpointOptions(1, 64 * PageSize, 9) { MaxEntryPages = 4, HoleBlockOneIn = 0, LockedPages = 0 });
        using var checkpoint = Checkpoint.Open(temp.Path);
        int pid = layout.Tasks[0].Pid;
        var run = checkpoint.Tasks[0].Pagemap[0];
        Assert.Equal(4UL, run.NrPages);

        Assert.True(checkpoint.Pages.TryGetMappedPages(pid, run.Vaddr, 4, out nint address));
        var copy = new byte[4 * PageSize];
        checkpoint.Pages.Read(pid, run.Vaddr, 4, copy);
        unsafe
        {
            Assert.True(new ReadOnlySpan<byte>((void*)address, copy.Length).SequenceEqual(copy));
        }

        Assert.True(checkpoint.Pages.TryGetMappedPages(pid, run.Vaddr + PageSize, 3, out _));
        Assert.False(checkpoint.Pages.TryGetMappedPages(pid, run.Vaddr, 5, out _));
        Assert.False(checkpoint.Pages.TryGetMappedPages(pid, run.Vaddr + 1, 1, out _));
        Assert.False(checkpoint.Pages.TryGetMappedPages(pid, run.Vaddr - PageSize, 1, out _));
        Assert.False(checkpoint.Pages.TryGetMappedPages(pid + 100, run.Vaddr, 1, out _));
        Assert.False(checkpoint.Pages.TryGetMappedPages(pid, run.Vaddr, 0, out _));
    }

    [Fact]
    public void Lazy_only_entries_are_not_mapped()
    {
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf("copied/lazy-source"));
        var task = checkpoint.Tasks[0];
        var lazyOnly = task.Pagemap.First(r => r.Flags == PageFlags.Lazy);
        Assert.Equal(-1, lazyOnly.PagesFileOffset);
        Assert.False(checkpoint.Pages.TryGetMappedPages(task.Pid, lazyOnly.Vaddr, 1, out _));
    }

    [Fact]
    public void Reads_spanning_entries_and_gaps_count_data_and_absent_pages()
    {
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf("copied/holes-and-zero"));
        var task = checkpoint.Tasks[0];
        var lazyVma = task.Vmas.Where(v => v.IsLazyCapable).OrderByDescending(v => task.Pagemap.Count(r => r.Vaddr >= v.Start && r.End <= v.End)).First();
        int pages = (int)(lazyVma.Length / PageSize);
        var bytes = new byte[pages * PageSize];
        bytes.AsSpan().Fill(0xEE);
        var result = checkpoint.Pages.Read(task.Pid, lazyVma.Start, pages, bytes);
        ulong dumped = task.Pagemap.Where(r => r.Vaddr >= lazyVma.Start && r.End <= lazyVma.End).Aggregate(0UL, (s, r) => s + r.NrPages);
        Assert.Equal((int)dumped, result.PagesWithData);
        Assert.Equal(pages - (int)dumped, result.PagesAbsent);
        for (int p = 0; p < pages; p++)
        {
            if (task.FindRun(lazyVma.Start + (ulong)p * PageSize) < 0)
            {
                Assert.True(bytes.AsSpan(p * PageSize, PageSize).IndexOfAnyExcept((byte)0) < 0, $"absent page {p} is zero-filled");
            }
        }
    }

    [Fact]
    public void Reads_beyond_every_entry_are_zero()
    {
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf("copied/single-anon"));
        var task = checkpoint.Tasks[0];
        var bytes = new byte[2 * PageSize];
        bytes.AsSpan().Fill(1);
        Assert.Equal(new PageReadResult(0, 2), checkpoint.Pages.Read(task.Pid, 0x1000, 2, bytes));
        Assert.True(bytes.All(b => b == 0));
        Assert.Equal(new PageReadResult(0, 1), checkpoint.Pages.Read(task.Pid, 0xffff_ffff_ffff_e000, 1, bytes.AsSpan(0, PageSize)));
    }

    [Fact]
    public void Bad_arguments_are_rejected()
    {
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf("copied/single-anon"));
        var task = checkpoint.Tasks[0];
        Assert.Throws<ArgumentException>(() => checkpoint.Pages.Read(task.Pid, task.Pagemap[0].Vaddr, 2, new byte[PageSize]));
        Assert.Throws<ArgumentException>(() => checkpoint.Pages.Read(task.Pid, task.Pagemap[0].Vaddr + 8, 1, new byte[PageSize]));
        var missing = Assert.Throws<KeyNotFoundException>(() => checkpoint.Pages.Read(99999, task.Pagemap[0].Vaddr, 1, new byte[PageSize]));
        Assert.Contains("99999", missing.Message);
    }

    [Fact]
    public void Concurrent_reads_return_the_same_bytes()
    {
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf("copied/single-anon"));
        var task = checkpoint.Tasks[0];
        var runs = task.Pagemap.Where(r => r.IsPresent).ToList();
        var reference = runs.Select(r =>
        {
            var data = new byte[(int)r.NrPages * PageSize];
            checkpoint.Pages.Read(task.Pid, r.Vaddr, (int)r.NrPages, data);
            return data;
        }).ToList();
        int mismatches = 0;
        Parallel.For(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            int k = i % runs.Count;
            var data = new byte[reference[k].Length];
            checkpoint.Pages.Read(task.Pid, runs[k].Vaddr, (int)runs[k].NrPages, data);
            if (!data.AsSpan().SequenceEqual(reference[k]))
            {
                Interlocked.Increment(ref mismatches);
            }
        });
        Assert.Equal(0, mismatches);
    }

    [Fact]
    public void Disposed_reader_refuses_reads()
    {
        var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf("copied/single-anon"));
        var task = checkpoint.Tasks[0];
        var reader = checkpoint.Pages;
        checkpoint.Dispose();
        Assert.Throws<ObjectDisposedException>(() => reader.Read(task.Pid, task.Pagemap[0].Vaddr, 1, new byte[PageSize]));
    }
}
