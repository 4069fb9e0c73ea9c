using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Ranges;
using Xunit;

namespace LazyActors.Engine.Tests.Protocol.Support;

/// <summary>
/// Fetches every lazy page with data of a checkpoint through a page-server client, as CRIU's daemon asks for them
/// (each lazy range, cut at VMA ends, in chunks of at most <see cref="ChunkPages"/>), all chunks pipelined, and
/// compares every byte with the checkpoint's own pages files, read directly.
/// </summary>
internal static class LazyPagesVerifier
{
    public const int ChunkPages = 1024;
    private const int PageSize = (int)PageGeometry.PageSize;

    /// <summary>Returns the number of pages fetched and verified.</summary>
    public static async Task<long> FetchAndVerifyAllAsync(PageServerClient client, Checkpoint checkpoint, TimeSpan timeout)
    {
        var fetches = new List<Task<long>>();
        foreach (var task in checkpoint.Tasks.Where(t => t.PagemapFile is not null && t.PresentPages > 0))
        {
            byte[] file = await File.ReadAllBytesAsync(Path.Combine(checkpoint.Directory, task.PagemapFile!.PagesFileName));
            foreach (var range in task.LazyRanges.Where(r => HasData(task, r.Start)))
            {
                for (ulong start = range.Start; start < range.End; start += (ulong)ChunkPages * PageSize)
                {
                    int pages = (int)Math.Min(ChunkPages, (range.End - start) / PageSize);
                    fetches.Add(FetchChunkAsync(client, task, file, start, pages));
                }
            }
        }

        var counts = await Task.WhenAll(fetches).WaitAsync(timeout);
        return counts.Sum();
    }

    /// <summary>The bytes of page <paramref name="vaddr"/> of <paramref name="task"/> in its pages file.</summary>
    public static ReadOnlySpan<byte> ExpectedPage(TaskImages task, byte[] file, ulong vaddr)
    {
        var run = task.Pagemap[task.FindRun(vaddr)];
        long offset = run.PagesFileOffset + (long)(vaddr - run.Vaddr);
        return file.AsSpan((int)offset, PageSize);
    }

    private static bool HasData(TaskImages task, ulong vaddr)
    {
        int index = task.FindRun(vaddr);
        return index >= 0 && task.Pagemap[index].IsPresent;
    }

    private static async Task<long> FetchChunkAsync(PageServerClient client, TaskImages task, byte[] file, ulong start, int pages)
    {
        var buffer = new byte[pages * PageSize];
        await client.GetAllPagesAsync(task.Pid, start, pages, buffer);
        for (int k = 0; k < pages; k++)
        {
            ulong vaddr = start + ((ulong)k * PageSize);
            var expected = ExpectedPage(task, file, vaddr);
            if (!buffer.AsSpan(k * PageSize, PageSize).SequenceEqual(expected))
            {
                Assert.Fail($"pid {task.Pid} page 0x{vaddr:x}: fetched bytes differ from {task.PagemapFile!.PagesFileName}");
            }
        }

        return pages;
    }
}
