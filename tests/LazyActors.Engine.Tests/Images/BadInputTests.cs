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
