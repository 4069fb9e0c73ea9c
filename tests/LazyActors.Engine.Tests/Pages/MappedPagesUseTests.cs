using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LazyActors.Engine.Images;
using LazyActors.Engine.Pages;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Engine.Tests.Pages;

/// <summary>
/// <c>mapped-pages-populate</c> and <c>mapped-pages-release</c> on a real mapping of a synthetic checkpoint's pages file,
/// read from the kernel's own account of this process's page tables (/proc/self/pagemap, bit 63: page present).
/// </summary>
public sealed class MappedPagesUseTests
{
    private const int Pages = 1024;

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public void A_big_zero_copy_read_is_populated_and_released_as_configured(bool populate, bool release)
    {
        using var dir = new ScratchDirectory();
        SyntheticCheckpoint.Write(dir.Path, new SyntheticCheckpointOptions(1, 32 << 20, 23) { HoleBlockOneIn = 0, LazyVmasPerTask = 1, MaxEntryPages = 2048 });
        using var checkpoint = Checkpoint.Open(dir.Path);
        using var pool = new PinnedBufferPool(8 * 4096, 2);
        using var source = new LocalPageSource(checkpoint, pool, mapped: new MappedPagesUse(populate, release));
        var task = checkpoint.Tasks[0];
        var run = task.Pagemap.First(r => r.IsPresent && r.NrPages >= Pages);

        Assert.True(source.TryReadNow(task.Pid, run.Vaddr, Pages, out var read));
        var segment = Assert.Single(read.Segments);
        // Populated: every page is mapped before anything reads it; otherwise none is yet (a fresh mapping).
        Assert.Equal(populate ? Pages : 0, PresentPages(segment.Address, Pages));

        var bytes = new byte[Pages * 4096];
        Marshal.Copy(segment.Address, bytes, 0, bytes.Length);
        read.Dispose();
        // Released: the copy's pages are unmapped again; kept: still mapped.
        Assert.Equal(release ? 0 : Pages, PresentPages(segment.Address, Pages));

        // The bytes are the checkpoint's (read through a checkpoint of its own, another mapping).
        var expected = new byte[Pages * 4096];
        using (var other = Checkpoint.Open(dir.Path))
        {
            other.Pages.Read(task.Pid, run.Vaddr, Pages, expected);
        }

        Assert.Equal(expected, bytes);
    }

    /// <summary>How many of <paramref name="pages"/> pages from <paramref name="address"/> this process has mapped now.</summary>
    private static int PresentPages(nint address, int pages)
    {
        using var pagemap = File.OpenHandle("/proc/self/pagemap");
        var entries = new byte[pages * 8];
        var read = RandomAccess.Read(pagemap, entries, address / 4096 * 8);
        Assert.Equal(entries.Length, read);
        var present = 0;
        for (var i = 0; i < pages; i++)
        {
            present += (BinaryPrimitives.ReadUInt64LittleEndian(entries.AsSpan(i * 8)) >> 63) == 1 ? 1 : 0;
        }

        return present;
    }
}
