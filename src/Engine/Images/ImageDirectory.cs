using LazyActors.Engine.Images.Proto;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Images;

/// <summary>File-level helpers shared by split and merge: naming rules, the inventory version, copying files and links.</summary>
internal static class ImageDirectory
{
    public const string PagemapPrefix = "pagemap-";
    public const string PagesPrefix = "pages-";
    public const string ImageSuffix = ".img";

    public static bool IsPagemapFile(string name) =>
        name.StartsWith(PagemapPrefix, StringComparison.Ordinal) && name.EndsWith(ImageSuffix, StringComparison.Ordinal);

    /// <summary>Refuses outputs equal to or inside <paramref name="source"/> (copying would recurse or overwrite the input).</summary>
    public static void RequireOutsideOf(string source, params string[] outputs)
    {
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(source)) + Path.DirectorySeparatorChar;
        foreach (string output in outputs)
        {
            string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(output)) + Path.DirectorySeparatorChar;
            if (full.StartsWith(root, StringComparison.Ordinal))
            {
                throw new ArgumentException($"output directory {output} must not be {source} or inside it", nameof(outputs));
            }
        }
    }

    /// <summary>Refuses two outputs that are the same directory or one inside the other.</summary>
    public static void RequireDistinct(string first, string second)
    {
        RequireOutsideOf(first, second);
        RequireOutsideOf(second, first);
    }

    /// <summary>
    /// Bytes of data of a pagemap entry of <paramref name="nrPages"/> pages at <paramref name="vaddr"/> (entry
    /// <paramref name="index"/> of <paramref name="path"/>), which must lie below the user address limit.
    /// </summary>
    /// <exception cref="ImageFormatException">The entry cannot describe task memory.</exception>
    public static long EntryBytes(string path, int index, ulong vaddr, ulong nrPages)
    {
        if (nrPages == 0 || vaddr >= PageGeometry.UserAddressLimit || nrPages > (PageGeometry.UserAddressLimit - vaddr) / PageGeometry.PageSize)
        {
            throw new ImageFormatException(path, $"entry {index} at 0x{vaddr:x} has an invalid page count {nrPages} (it must be at least 1 and end below the user address limit 0x{PageGeometry.UserAddressLimit:x})");
        }

        return (long)(nrPages * PageGeometry.PageSize);
    }

    /// <summary>The inventory's img_version, validated.</summary>
    public static uint ReadImgVersion(string directory)
    {
        string path = Path.Combine(directory, "inventory.img");
        var inventory = ImageFile.ParseEntry(ImageFile.ReadInventory(path), 0, InventoryEntry.Parser);
        if (inventory.ImgVersion != ImageMagic.ImgVersionV1 && inventory.ImgVersion != ImageMagic.ImgVersionV1_1)
        {
            throw new ImageFormatException(path, $"unsupported img_version {inventory.ImgVersion} (only 1 and 2 are known)");
        }

        return inventory.ImgVersion;
    }

    /// <summary>Pagemap heads of every <c>pagemap-*.img</c> in <paramref name="directory"/>, by file name.</summary>
    public static SortedDictionary<string, uint> PagesIdsByPagemap(string directory, uint imgVersion)
    {
        var result = new SortedDictionary<string, uint>(StringComparer.Ordinal);
        foreach (string path in System.IO.Directory.EnumerateFiles(directory))
        {
            string name = Path.GetFileName(path);
            if (IsPagemapFile(name))
            {
                var raw = ImageFile.Read(path, ImageMagic.Pagemap, imgVersion);
                result[name] = ImageFile.ParseEntry(raw, 0, PagemapHead.Parser).PagesId;
            }
        }

        return result;
    }

    /// <summary>
    /// Copies a regular file, a directory tree or a symlink (recreated as a link with the same target, never followed)
    /// from <paramref name="source"/> to <paramref name="target"/>, which must not exist yet. Anything else (a FIFO, a
    /// device, a socket) is refused: reading it could block or never end.
    /// </summary>
    /// <exception cref="ImageFormatException">A source entry is not a file, directory or link.</exception>
    public static void CopyEntry(string source, string target)
    {
        var info = new FileInfo(source);
        if (info.LinkTarget is { } linkTarget)
        {
            File.CreateSymbolicLink(target, linkTarget);
            return;
        }

        if (System.IO.Directory.Exists(source))
        {
            System.IO.Directory.CreateDirectory(target);
            foreach (string child in System.IO.Directory.EnumerateFileSystemEntries(source))
            {
                CopyEntry(child, Path.Combine(target, Path.GetFileName(child)));
            }

            return;
        }

        using var from = ImageFileAccess.OpenReadStream(source);
        using var to = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        from.CopyTo(to);
    }

    /// <summary>Copies exactly <paramref name="bytes"/> bytes from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static void CopyBytes(Stream from, Stream to, long bytes, byte[] buffer, string fromPath)
    {
        while (bytes > 0)
        {
            int read = from.Read(buffer, 0, (int)Math.Min(buffer.Length, bytes));
            if (read <= 0)
            {
                throw new ImageFormatException(fromPath, $"pages file too short: ended at offset {from.Position} with {bytes} bytes still expected");
            }

            to.Write(buffer, 0, read);
            bytes -= read;
        }
    }

    /// <summary>Appends whatever is left of <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static void CopyRest(Stream from, Stream to, byte[] buffer)
    {
        int read;
        while ((read = from.Read(buffer, 0, buffer.Length)) > 0)
        {
            to.Write(buffer, 0, read);
        }
    }

    /// <summary>A read stream over a regular image file (never through a link; see <see cref="ImageFileAccess"/>).</summary>
    public static FileStream OpenRead(string path) => ImageFileAccess.OpenReadStream(path);

    public static FileStream Create(string path) =>
        new(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
}
