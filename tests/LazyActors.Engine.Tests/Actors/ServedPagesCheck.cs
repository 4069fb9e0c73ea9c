using LazyActors.Engine.Pages;
using LazyActors.Engine.Protocol.Server;
using Xunit;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>
/// Reads every served page of a checkpoint through a remote <see cref="IPageSource"/> and compares it with the pages
/// file the source serves: the check shared by the bulk-connection specs of both transports.
/// </summary>
internal static class ServedPagesCheck
{
    private const ulong Page = 4096;

    /// <summary>
    /// Reads every run with data in pieces of <paramref name="readPages"/>, all at once (a fault read at each run's
    /// start, background reads for the rest), compares each with <paramref name="store"/> and returns the pages read.
    /// </summary>
    public static async Task<long> ReadEverythingAsync(IPageSource source, LazyPageStore store, int readPages, TimeSpan bound)
    {
        var reads = new List<Task<long>>();
        foreach (int pid in store.Index.Pids)
        {
            foreach (var run in store.Index.RunsOf(pid).Where(r => r.HasData))
            {
                for (ulong offset = 0; offset < run.NrPages; offset += (ulong)readPages)
                {
                    int pages = (int)Math.Min((ulong)readPages, run.NrPages - offset);
                    reads.Add(ReadAndCompareAsync(source, store, pid, run.Vaddr + (offset * Page), pages, offset == 0 ? ReadPriority.Fault : ReadPriority.Background));
                }
            }
        }

        var counts = await Task.WhenAll(reads).WaitAsync(bound);
        return counts.Sum();
    }

    private static async Task<long> ReadAndCompareAsync(IPageSource source, LazyPageStore store, int pid, ulong vaddr, int pages, ReadPriority priority)
    {
        using var read = await source.ReadAsync(pid, vaddr, pages, priority, CancellationToken.None);
        var segment = Assert.Single(read.Segments);
        var lookup = store.Find((ulong)pid, vaddr, (ulong)pages, out var expected);
        Assert.Equal((ulong)pages, lookup.Pages);
        unsafe
        {
            var got = new ReadOnlySpan<byte>((void*)segment.Address, pages * (int)Page);
            var want = new ReadOnlySpan<byte>((void*)expected, pages * (int)Page);
            Assert.True(got.SequenceEqual(want), $"pid {pid} 0x{vaddr:x}+{pages}p differs from the pages file");
        }

        return pages;
    }
}
