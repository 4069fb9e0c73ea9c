using LazyActors.Engine.Images;
using LazyActors.Engine.Images.Proto;
using LazyActors.Engine.Ranges;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Engine.Tests.Images;

/// <summary>PE_PARENT entries are read through the <c>parent</c> symlink chain; without a parent they are unavailable.</summary>
public sealed class ParentChainTests
{
    private const int PageSize = (int)PageGeometry.PageSize;

    [Fact]
    public void Parent_entries_are_read_from_the_parent_image_set()
    {
        using var temp = new ScratchDirectory();
        var options = new SyntheticCheckpointOptions(2, 40 * PageSize, 0xABCD) { MaxEntryPages = 8 };
        var layout = SyntheticCheckpoint.Write(temp.Sub("parent-set"), options);
        MakeIncrementalChild(temp.Sub("parent-set"), temp.Sub("child"), linkParent: true);

        using var child = Checkpoint.Open(temp.Sub("child"));
        Assert.NotNull(child.Parent);
        foreach (var planned in layout.Tasks)
        {
            var task = child.GetTask(planned.Pid);
            Assert.Contains(task.Pagemap, r => r.Flags == PageFlags.Parent);
            foreach (var buffer in planned.Buffers)
            {
                var bytes = new byte[buffer.Pages * PageSize];
                int holes = buffer.Layout.Count(c => c == '.');
                Assert.Equal(new PageReadResult(buffer.Pages - holes, holes), child.Pages.Read(planned.Pid, buffer.Address, buffer.Pages, bytes));
                for (int p = 0; p < buffer.Pages; p++)
                {
                    var expected = buffer.Layout[p] == 'P' ? PagePattern.Page(options.Seed, (ulong)planned.Index, (ulong)buffer.Index, p) : new byte[PageSize];
                    Assert.True(expected.AsSpan().SequenceEqual(bytes.AsSpan(p * PageSize, PageSize)));
                }
            }

            var parentRun = task.Pagemap.First(r => r.Flags == PageFlags.Parent);
            Assert.False(child.Pages.TryGetMappedPages(planned.Pid, parentRun.Vaddr, 1, out _));
        }
    }

    [Fact]
    public void Parent_entry_without_parent_is_unavailable()
    {
        using var temp = new ScratchDirectory();
        var layout = SyntheticCheckpoint.Write(temp.Sub("parent-set"), new SyntheticCheckpointOptions(1, 16 * PageSize, 1) { MaxEntryPages = 4 });
        MakeIncrementalChild(temp.Sub("parent-set"), temp.Sub("child"), linkParent: false);
        using var child = Checkpoint.Open(temp.Sub("child"));
        Assert.Null(child.Parent);
        var run = child.Tasks[0].Pagemap.First(r => r.Flags == PageFlags.Parent);
        var ex = Assert.Throws<PageDataUnavailableException>(() => child.Pages.Read(layout.Tasks[0].Pid, run.Vaddr, 1, new byte[PageSize]));
        Assert.Contains("PE_PARENT", ex.Message);
        Assert.Contains("pagemap-", ex.Message);
    }

    [Fact]
    public void Legacy_entries_are_normalised_like_criu()
    {
        Assert.Equal((PageFlags.Parent, 3UL), PagemapFile.Normalise(new PagemapEntry { Vaddr = 0, CompatNrPages = 3, InParent = true }));
        Assert.Equal((PageFlags.Present, 5UL), PagemapFile.Normalise(new PagemapEntry { Vaddr = 0, CompatNrPages = 5 }));
        Assert.Equal((PageFlags.Lazy, 7UL), PagemapFile.Normalise(new PagemapEntry { Vaddr = 0, CompatNrPages = 0, Flags = 2, NrPages = 7 }));
        Assert.Equal((PageFlags.Present, 9UL), PagemapFile.Normalise(new PagemapEntry { Vaddr = 0, CompatNrPages = 9, InParent = false }));
    }

    /// <summary>Copies <paramref name="parentDir"/> to <paramref name="childDir"/>, turning every other pagemap entry into PE_PARENT (no data).</summary>
    internal static void MakeIncrementalChild(string parentDir, string childDir, bool linkParent)
    {
        Directory.CreateDirectory(childDir);
        foreach (string file in Directory.EnumerateFiles(parentDir))
        {
            File.Copy(file, Path.Combine(childDir, Path.GetFileName(file)));
        }

        if (linkParent)
        {
            File.CreateSymbolicLink(Path.Combine(childDir, Checkpoint.ParentLinkName), Path.Combine("..", Path.GetFileName(parentDir)));
        }

        foreach (string path in Directory.EnumerateFiles(parentDir, "pagemap-*.img"))
        {
            var pagemap = PagemapFile.Read(path, 2);
            using var parentPages = File.OpenHandle(Path.Combine(parentDir, pagemap.PagesFileName));
            using var writer = ImageFileWriter.Create(Path.Combine(childDir, Path.GetFileName(path)), ImageMagic.Pagemap);
            using var pages = new FileStream(Path.Combine(childDir, pagemap.PagesFileName), FileMode.Create);
            writer.WriteEntry(pagemap.Raw.Entries[0]);
            for (int i = 0; i < pagemap.Runs.Count; i++)
            {
                var run = pagemap.Runs[i];
                if (i % 2 == 0)
                {
                    writer.WriteEntry(new PagemapEntry { Vaddr = run.Vaddr, CompatNrPages = 0, Flags = (uint)PageFlags.Parent, NrPages = run.NrPages });
                    continue;
                }

                writer.WriteEntry(pagemap.Raw.Entries[i + 1]);
                var data = new byte[run.NrPages * PageSize];
                RandomAccess.Read(parentPages, data, run.PagesFileOffset);
                pages.Write(data);
            }
        }
    }
}
