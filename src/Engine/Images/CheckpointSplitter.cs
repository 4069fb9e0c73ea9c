using Google.Protobuf;
using LazyActors.Engine.Images.Proto;

namespace LazyActors.Engine.Images;

/// <summary>
/// Splits a normal checkpoint into the two halves of a lazy migration.
/// <list type="bullet">
/// <item><b>Eager set</b>: every file of the source, except that each pagemap entry flagged PE_LAZY|PE_PRESENT becomes
/// PE_LAZY only and its data is removed from <c>pages-&lt;id&gt;.img</c>: exactly what <c>criu dump --lazy-pages</c> leaves.</item>
/// <item><b>Lazy set</b>: an image set a page server can serve: <c>inventory.img</c>, <c>pstree.img</c>, <c>core-*.img</c> and
/// <c>mm-*.img</c> copied; every <c>pagemap-*.img</c> with the same head but only the moved entries, byte-for-byte as in the
/// source (flags PE_LAZY|PE_PRESENT); every <c>pages-&lt;id&gt;.img</c> holding their data in entry order.
/// <see cref="Checkpoint.Open(string)"/> accepts it.</item>
/// </list>
/// <see cref="CheckpointMerger"/> reverses the split byte for byte.
/// </summary>
public static class CheckpointSplitter
{
    private static readonly string[] LazySetCopies = ["inventory.img", "pstree.img"];

    /// <summary>
    /// Splits <paramref name="sourceDir"/> into <paramref name="eagerDir"/> and <paramref name="lazyDir"/>, each new or an
    /// empty directory (or replaced with <paramref name="force"/>). Both are written beside their place and renamed
    /// there at the end, so a failed split leaves neither half-written (see <see cref="StagedDirectory"/>).
    /// </summary>
    /// <exception cref="ImageFormatException">The source is not a valid image set; the message names the file.</exception>
    /// <exception cref="IOException">An output is a non-empty directory (without <paramref name="force"/>) or cannot be written.</exception>
    public static void Split(string sourceDir, string eagerDir, string lazyDir, bool force = false)
    {
        ImageDirectory.RequireOutsideOf(sourceDir, eagerDir, lazyDir);
        ImageDirectory.RequireDistinct(eagerDir, lazyDir);
        Checkpoint.Open(sourceDir).Dispose(); // the whole source is valid (pstree, core, mm, pages files), not only what split parses

        uint version = ImageDirectory.ReadImgVersion(sourceDir);
        var pagesIds = ImageDirectory.PagesIdsByPagemap(sourceDir, version);
        var producedPages = pagesIds.Values.Select(PagemapFile.PagesFileNameFor).ToHashSet(StringComparer.Ordinal);
        using var eagerOut = StagedDirectory.Begin(eagerDir, force);
        using var lazyOut = StagedDirectory.Begin(lazyDir, force);

        foreach (string path in Directory.EnumerateFileSystemEntries(sourceDir))
        {
            string name = Path.GetFileName(path);
            if (pagesIds.ContainsKey(name) || producedPages.Contains(name))
            {
                continue;
            }

            ImageDirectory.CopyEntry(path, Path.Combine(eagerOut.Path, name));
            if (LazySetCopies.Contains(name) || IsPerTaskImage(name, "core-") || IsPerTaskImage(name, "mm-"))
            {
                ImageDirectory.CopyEntry(path, Path.Combine(lazyOut.Path, name));
            }
        }

        var buffer = new byte[1 << 20];
        foreach (string pagemapName in pagesIds.Keys)
        {
            SplitPagemap(sourceDir, eagerOut.Path, lazyOut.Path, pagemapName, version, buffer);
        }

        eagerOut.Commit();
        lazyOut.Commit();
    }

    private static bool IsPerTaskImage(string name, string prefix) =>
        name.StartsWith(prefix, StringComparison.Ordinal) && name.EndsWith(ImageDirectory.ImageSuffix, StringComparison.Ordinal);

    private static void SplitPagemap(string sourceDir, string eagerDir, string lazyDir, string pagemapName, uint version, byte[] buffer)
    {
        var raw = ImageFile.Read(Path.Combine(sourceDir, pagemapName), ImageMagic.Pagemap, version);
        var head = ImageFile.ParseEntry(raw, 0, PagemapHead.Parser);
        string pagesName = PagemapFile.PagesFileNameFor(head.PagesId);
        string sourcePages = Path.Combine(sourceDir, pagesName);
        bool hasPagesFile = File.Exists(sourcePages);

        using var eagerMap = new ImageFileWriter(Path.Combine(eagerDir, pagemapName), raw.Header);
        using var lazyMap = new ImageFileWriter(Path.Combine(lazyDir, pagemapName), raw.Header);
        eagerMap.WriteEntry(raw.Entries[0]);
        lazyMap.WriteEntry(raw.Entries[0]);

        using var source = hasPagesFile ? ImageDirectory.OpenRead(sourcePages) : null;
        using var eagerPages = hasPagesFile ? ImageDirectory.Create(Path.Combine(eagerDir, pagesName)) : null;
        using var lazyPages = hasPagesFile ? ImageDirectory.Create(Path.Combine(lazyDir, pagesName)) : null;
        for (int i = 1; i < raw.Entries.Count; i++)
        {
            var entry = ImageFile.ParseEntry(raw, i, PagemapEntry.Parser);
            var (flags, nrPages) = PagemapFile.Normalise(entry);
            long bytes = ImageDirectory.EntryBytes(raw.Path, i, entry.Vaddr, nrPages);
            bool present = (flags & PageFlags.Present) != 0;
            if (present && source is null)
            {
                throw new ImageFormatException(sourcePages, $"pages file is missing; entry {i} of {raw.Path} has PE_PRESENT data");
            }

            if (present && (flags & PageFlags.Lazy) != 0)
            {
                lazyMap.WriteEntry(raw.Entries[i]);
                ImageDirectory.CopyBytes(source!, lazyPages!, bytes, buffer, sourcePages);
                var lazyOnly = entry.Clone();
                lazyOnly.Flags = (uint)(flags & ~PageFlags.Present);
                eagerMap.WriteEntry(lazyOnly.ToByteArray());
            }
            else
            {
                eagerMap.WriteEntry(raw.Entries[i]);
                if (present)
                {
                    ImageDirectory.CopyBytes(source!, eagerPages!, bytes, buffer, sourcePages);
                }
            }
        }

        if (source is not null)
        {
            ImageDirectory.CopyRest(source, eagerPages!, buffer);
        }
    }
}
