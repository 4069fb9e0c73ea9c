using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Engine.Tests.Images;

/// <summary>Random-access reads from a large pages file use a mapping, not managed memory proportional to its size.</summary>
public sealed class PageReaderMemoryTests
{
    private const int PageSize = (int)PageGeometry.PageSize;

    [Fact]
    public void Reading_a_256_MiB_sparse_pages_file_allocates_almost_nothing()
    {
        using var temp = new ScratchDirectory();
        const int pages = 256 * 256;
        var options = new SyntheticCheckpointOptions(1, 2 * PageSize, 0x77) { LazyVmasPerTask = 1, LockedPages = 0, HoleBlockOneIn = 0, ZeroPageOneIn = 0 };
        SyntheticCheckpoint.Write(temp.Path, options);
        var task = ImageTestWriter.ReplaceWithSparseRun(temp.Path, pages);

        using var checkpoint = Checkpoint.Open(temp.Path);
        var buffer = new byte[16 * PageSize];
        var random = new Random(3);
        checkpoint.Pages.Read(task.Pid, task.Start, 16, buffer);

        long before = GC.GetAllocatedBytesForCurrentThread();
        long withData = 0;
        int mapped = 0;
        for (int i = 0; i < 2000; i++)
        {
            int page = random.Next(0, pages - 16);
            withData += checkpoint.Pages.Read(task.Pid, task.Start + (ulong)page * PageSize, 16, buffer).PagesWithData;
            if (checkpoint.Pages.TryGetMappedPages(task.Pid, task.Start + (ulong)page * PageSize, 1, out nint address) && address != 0)
            {
                mapped++;
            }
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(2000L * 16, withData);
        Assert.Equal(2000, mapped);
        Assert.True(allocated < 256 * 1024, $"allocated {allocated} bytes for 2000 reads from a 256 MiB pages file");
    }
}
