using System.Buffers.Binary;
using LazyActors.Engine.Images;
using LazyActors.Engine.Images.Proto;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Engine.Tests.Images;

/// <summary>Corrupt or unsupported images give <see cref="ImageFormatException"/> naming the file and the problem.</summary>
public sealed class BadInputTests
{
    private static string Source => FixtureCatalog.PathOf("copied/single-anon");

    [Fact]
    public void Truncated_length_prefix_names_the_file()
    {
        using var temp = Copy(out string dir, out int pid);
        string pagemap = Path.Combine(dir, $"pagemap-{pid}.img");
        using (var stream = new FileStream(pagemap, FileMode.Append))
        {
            stream.Write([0x10, 0x00]);
        }

        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Equal(pagemap, ex.FilePath);
        Assert.Contains(pagemap, ex.Message);
        Assert.Contains("truncated length prefix", ex.Message);
    }

    [Fact]
    public void Truncated_entry_names_the_file()
    {
        using var temp = Copy(out string dir, out int pid);
        string mm = Path.Combine(dir, $"mm-{pid}.img");
        var bytes = File.ReadAllBytes(mm);
        File.WriteAllBytes(mm, bytes[..^3]);
        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Contains(mm, ex.Message);
        Assert.Contains("truncated entry", ex.Message);
    }

    [Fact]
    public void Wrong_magic_names_the_file()
    {
        using var temp = Copy(out string dir, out _);
        string pstree = Path.Combine(dir, "pstree.img");
        var bytes = File.ReadAllBytes(pstree);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), ImageMagic.Mm);
        File.WriteAllBytes(pstree, bytes);
        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Contains(pstree, ex.Message);
        Assert.Contains("bad magic", ex.Message);
    }

    [Fact]
    public void Wrong_inventory_magic_names_the_file()
    {
        using var temp = Copy(out string dir, out _);
        string inventory = Path.Combine(dir, "inventory.img");
        var bytes = File.ReadAllBytes(inventory);
        bytes[0] ^= 0xFF;
        File.WriteAllBytes(inventory, bytes);
        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Contains(inventory, ex.Message);
        Assert.Contains("bad magic", ex.Message);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(3u)]
    [InlineData(42u)]
    public void Unknown_img_version_names_the_inventory(uint version)
    {
        using var temp = Copy(out string dir, out _);
        string inventory = Path.Combine(dir, "inventory.img");
        using (var writer = ImageFileWriter.Create(inventory, ImageMagic.Inventory))
        {
            writer.WriteEntry(new InventoryEntry { ImgVersion = version, FdinfoPerId = true });
        }

        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Contains(inventory, ex.Message);
        Assert.Contains($"unsupported img_version {version}", ex.Message);
        Assert.Throws<ImageFormatException>(() => CheckpointSplitter.Split(dir, temp.Sub("e"), temp.Sub("l")));
    }

    [Fact]
    public void Pages_file_too_short_names_the_pages_file()
    {
        using var temp = Copy(out string dir, out int pid);
        using (var checkpoint = Checkpoint.Open(dir))
        {
            string pages = Path.Combine(dir, $"pages-{checkpoint.GetTask(pid).PagesId}.img");
            using (var stream = new FileStream(pages, FileMode.Open))
            {
                stream.SetLength(stream.Length - 4096);
            }

            var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
            Assert.Equal(pages, ex.FilePath);
            Assert.Contains("pages file too short", ex.Message);
            Assert.Throws<ImageFormatException>(() => CheckpointSplitter.Split(dir, temp.Sub("e"), temp.Sub("l")));
        }
    }

    [Fact]
    public void Bad_protobuf_names_the_file()
    {
        using var temp = Copy(out string dir, out int pid);
        string pagemap = Path.Combine(dir, $"pagemap-{pid}.img");
        using (var writer = ImageFileWriter.Create(pagemap, ImageMagic.Pagemap))
        {
            writer.WriteEntry(new PagemapHead { PagesId = 1 });
            writer.WriteEntry([0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        }

        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Contains(pagemap, ex.Message);
        Assert.Contains("bad protobuf", ex.Message);
    }

    [Fact]
    public void Missing_required_field_is_bad_protobuf()
    {
        using var temp = Copy(out string dir, out int pid);
        string pagemap = Path.Combine(dir, $"pagemap-{pid}.img");
        using (var writer = ImageFileWriter.Create(pagemap, ImageMagic.Pagemap))
        {
            writer.WriteEntry(new PagemapHead { PagesId = 1 });
            writer.WriteEntry(new PagemapEntry { Vaddr = 0x1000, Flags = 6, NrPages = 1 });
        }

        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Contains(pagemap, ex.Message);
    }

    [Fact]
    public void Unsorted_pagemap_is_rejected()
    {
        using var temp = Copy(out string dir, out int pid);
        string pagemap = Path.Combine(dir, $"pagemap-{pid}.img");
        using (var writer = ImageFileWriter.Create(pagemap, ImageMagic.Pagemap))
        {
            writer.WriteEntry(new PagemapHead { PagesId = 1 });
            writer.WriteEntry(new PagemapEntry { Vaddr = 0x5000, CompatNrPages = 0, Flags = 6, NrPages = 1 });
            writer.WriteEntry(new PagemapEntry { Vaddr = 0x3000, CompatNrPages = 0, Flags = 6, NrPages = 1 });
        }

        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Contains(pagemap, ex.Message);
        Assert.Contains("sorted", ex.Message);
    }

    [Fact]
    public void Missing_inventory_names_the_file()
    {
        using var temp = Copy(out string dir, out _);
        File.Delete(Path.Combine(dir, "inventory.img"));
        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Contains("inventory.img", ex.Message);
        Assert.Contains("missing", ex.Message);
    }

    [Fact]
    public void Empty_file_is_too_short_for_its_header()
    {
        using var temp = new ScratchDirectory();
        string path = temp.Sub("pstree.img");
        File.WriteAllBytes(path, [0x19, 0x43]);
        var ex = Assert.Throws<ImageFormatException>(() => ImageFile.Read(path, ImageMagic.Pstree, 2));
        Assert.Contains(path, ex.Message);
        Assert.Contains("too short", ex.Message);
    }

    [Fact]
    public void Img_version_1_images_have_no_common_magic()
    {
        using var temp = new ScratchDirectory();
        string path = temp.Sub("pstree.img");
        var entry = new PstreeEntry { Pid = 7, Ppid = 0, Pgid = 7, Sid = 7 };
        using (var writer = ImageFileWriter.Create(path, ImageMagic.Pstree, imgVersion: 1))
        {
            writer.WriteEntry(entry);
        }

        Assert.Equal(ImageMagic.Pstree, BinaryPrimitives.ReadUInt32LittleEndian(File.ReadAllBytes(path)));
        var image = ImageFile.Read(path, ImageMagic.Pstree, 1);
        Assert.Equal(entry, ImageFile.ParseEntry(image, 0, PstreeEntry.Parser));
        Assert.Throws<ImageFormatException>(() => ImageFile.Read(path, ImageMagic.Pstree, 2));
    }

    /// <summary>A page count that makes nr_pages * 4096 overflow (2^51 pages) is a clear error, not an OverflowException.</summary>
    [Theory]
    [InlineData(1UL << 51)]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 45)]
    public void Pagemap_page_count_past_the_address_space_names_the_file(ulong nrPages)
    {
        using var temp = Copy(out string dir, out int pid);
        string pagemap = Path.Combine(dir, $"pagemap-{pid}.img");
        using (var writer = ImageFileWriter.Create(pagemap, ImageMagic.Pagemap))
        {
            writer.WriteEntry(new PagemapHead { PagesId = 1 });
            writer.WriteEntry(new PagemapEntry { Vaddr = 0x1000, CompatNrPages = 0, Flags = 6, NrPages = nrPages });
        }

        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Equal(pagemap, ex.FilePath);
        Assert.Contains("invalid page count", ex.Message);
    }

    [Theory]
    [InlineData(1U << 31, 0U)]
    [InlineData(0U, 0U)]
    [InlineData(7U, 1U << 31)]
    public void Pstree_ids_out_of_range_name_the_file(uint pid, uint ppid)
    {
        using var temp = Copy(out string dir, out _);
        string pstree = Path.Combine(dir, "pstree.img");
        using (var writer = ImageFileWriter.Create(pstree, ImageMagic.Pstree))
        {
            writer.WriteEntry(new PstreeEntry { Pid = pid, Ppid = ppid, Pgid = 7, Sid = 7 });
        }

        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Equal(pstree, ex.FilePath);
        Assert.Contains("out of range", ex.Message);
    }

    [Fact]
    public void A_pid_twice_in_pstree_names_the_file()
    {
        using var temp = Copy(out string dir, out int pid);
        string pstree = Path.Combine(dir, "pstree.img");
        using (var writer = ImageFileWriter.Create(pstree, ImageMagic.Pstree))
        {
            writer.WriteEntry(new PstreeEntry { Pid = (uint)pid, Ppid = 0, Pgid = (uint)pid, Sid = (uint)pid });
            writer.WriteEntry(new PstreeEntry { Pid = (uint)pid, Ppid = (uint)pid, Pgid = (uint)pid, Sid = (uint)pid });
        }

        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Contains(pstree, ex.Message);
        Assert.Contains($"repeats pid {pid}", ex.Message);
    }

    [Fact]
    public void An_image_that_is_a_directory_names_the_file()
    {
        using var temp = Copy(out string dir, out _);
        string pstree = Path.Combine(dir, "pstree.img");
        File.Delete(pstree);
        Directory.CreateDirectory(pstree);
        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Equal(pstree, ex.FilePath);
        Assert.Contains("is a directory, not a regular file", ex.Message);
    }

    /// <summary>A link to /dev/zero would be read for ever (4 GB and out of memory): image files are never followed.</summary>
    [Theory]
    [InlineData("/dev/zero")]
    [InlineData("inventory.img")]
    public void An_image_that_is_a_symbolic_link_is_refused_without_reading_it(string target)
    {
        using var temp = Copy(out string dir, out _);
        string pstree = Path.Combine(dir, "pstree.img");
        File.Delete(pstree);
        File.CreateSymbolicLink(pstree, target);
        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Equal(pstree, ex.FilePath);
        Assert.Contains("is a symbolic link", ex.Message);
    }

    /// <summary>Opening a FIFO for reading blocks until a writer comes: images are opened non-blocking and must be regular.</summary>
    [Fact]
    public async Task A_fifo_in_place_of_an_image_is_refused_at_once()
    {
        using var temp = Copy(out string dir, out int pid);
        string pagemap = Path.Combine(dir, $"pagemap-{pid}.img");
        File.Delete(pagemap);
        MakeFifo(pagemap);
        var open = Task.Run(() => Checkpoint.Open(dir));
        var ex = await Assert.ThrowsAsync<ImageFormatException>(() => open.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(pagemap, ex.FilePath);
        Assert.Contains("is a FIFO, not a regular file", ex.Message);
    }

    [Fact]
    public async Task A_fifo_in_place_of_a_pages_file_is_refused_at_once()
    {
        using var temp = Copy(out string dir, out int pid);
        string pages;
        using (var checkpoint = Checkpoint.Open(dir))
        {
            pages = Path.Combine(dir, $"pages-{checkpoint.GetTask(pid).PagesId}.img");
        }

        File.Delete(pages);
        MakeFifo(pages);
        var ex = await Assert.ThrowsAsync<ImageFormatException>(() => Task.Run(() => Checkpoint.Open(dir)).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(pages, ex.FilePath);
        Assert.Contains("FIFO", ex.Message);
    }

    /// <summary>A sparse 100 GiB core image costs nothing on disk: it is refused by its size, never read.</summary>
    [Fact]
    public void A_metadata_image_larger_than_its_bound_is_refused_unread()
    {
        using var temp = Copy(out string dir, out int pid);
        string core = Path.Combine(dir, $"core-{pid}.img");
        using (var stream = new FileStream(core, FileMode.Open))
        {
            stream.SetLength(100L << 30);
        }

        var before = GC.GetTotalAllocatedBytes();
        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Equal(core, ex.FilePath);
        Assert.Contains("more than the", ex.Message);
        Assert.True(GC.GetTotalAllocatedBytes() - before < 64L << 20, "the oversized image was read");
    }

    [Fact]
    public void Overlapping_vmas_name_the_mm_image()
    {
        using var temp = Copy(out string dir, out int pid);
        LazyActors.Tools.Synthetic.CraftedMemory.Write(dir, pid,
            [new(0x10000000, 0x10010000), new(0x1000c000, 0x10020000)],
            [new(0x10000000, 4)]);
        var ex = Assert.Throws<ImageFormatException>(() => Checkpoint.Open(dir));
        Assert.Contains($"mm-{pid}.img", ex.Message);
        Assert.Contains("overlaps", ex.Message);
    }

    /// <summary>A <c>parent</c> link that leads back into its own chain would recurse for ever on a PE_PARENT page.</summary>
    [Fact]
    public void A_parent_chain_that_loops_is_refused()
    {
        using var temp = Copy(out string dir, out int pid);
        File.CreateSymbolicLink(Path.Combine(dir, Checkpoint.ParentLinkName), ".");
        using var checkpoint = Checkpoint.Open(dir);
        var ex = Assert.Throws<ImageFormatException>(() => checkpoint.Parent);
        Assert.Contains("loop", ex.Message);
        _ = pid;
    }

    [Fact]
    public void A_parent_that_is_not_a_directory_is_refused()
    {
        using var temp = Copy(out string dir, out _);
        File.WriteAllText(Path.Combine(dir, Checkpoint.ParentLinkName), "not a directory");
        using var checkpoint = Checkpoint.Open(dir);
        var ex = Assert.Throws<ImageFormatException>(() => checkpoint.Parent);
        Assert.Contains("is not a directory", ex.Message);
    }

    /// <summary>Split copies every entry of the source: a FIFO among them is refused instead of blocking the copy.</summary>
    [Fact]
    public async Task Split_refuses_a_fifo_in_the_source_without_blocking()
    {
        using var temp = Copy(out string dir, out _);
        MakeFifo(Path.Combine(dir, "stray.fifo"));
        var split = Task.Run(() => CheckpointSplitter.Split(dir, temp.Sub("e"), temp.Sub("l")));
        var ex = await Assert.ThrowsAsync<ImageFormatException>(() => split.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("stray.fifo", ex.Message);
        Assert.Contains("FIFO", ex.Message);
    }

    private static void MakeFifo(string path)
    {
        using var mkfifo = System.Diagnostics.Process.Start("mkfifo", [path]);
        Assert.True(mkfifo.WaitForExit(10_000));
        Assert.Equal(0, mkfifo.ExitCode);
    }

    private static ScratchDirectory Copy(out string dir, out int pid)
    {
        var temp = new ScratchDirectory();
        dir = temp.Sub("images");
        Directory.CreateDirectory(dir);
        foreach (string file in Directory.EnumerateFiles(Source))
        {
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        }

        pid = (int)ImageFile.ParseEntry(ImageFile.Read(Path.Combine(dir, "pstree.img"), ImageMagic.Pstree, 2), 0, PstreeEntry.Parser).Pid;
        return temp;
    }
}
