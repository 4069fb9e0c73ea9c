using LazyActors.Engine.Images.Proto;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Images;

/// <summary>
/// Rebuilds a normal checkpoint from the eager and lazy sets written by <see cref="CheckpointSplitter"/>:
/// each PE_LAZY-only entry of the eager pagemap that has a same-address, same-size entry in the lazy pagemap is replaced
/// by that entry's original bytes, and the pages files are interleaved back in entry order. PE_LAZY-only entries with no
/// counterpart (the source was itself a lazy dump) are kept. Every other file comes from the eager set.
/// </summary>
public static class CheckpointMerger
{
    /// <summary>Merges <paramref name="eagerDir"/> and <paramref name="lazyDir"/> into <paramref name="outputDir"/> (created if needed).</summary>
    public static void Merge(string eagerDir, string lazyDir, string outputDir)
    {
        ImageDirectory.RequireOutsideOf(eagerDir, outputDir);
        ImageDirectory.RequireOutsideOf(lazyDir, outputDir);
        uint version = ImageDirectory.ReadImgVersion(eagerDir);
        var pagesIds = ImageDirectory.PagesIdsByPagemap(eagerDir, version);
        var producedPages = pagesIds.Values.Select(PagemapFile.PagesFileNameFor).ToHashSet(StringComparer.Ordinal);
        Directory.CreateDirectory(outputDir);
        foreach (string path in Directory.EnumerateFileSystemEntries(eagerDir))
        {
            string name = Path.GetFileName(path);
            if (!pagesIds.ContainsKey(name) && !producedPages.Contains(name))
            {
                ImageDirectory.CopyEntry(path, Path.Combine(outputDir, name));
            }
        }

        var buffer = new byte[1 << 20];
        foreach (string pagemapName in pagesIds.Keys)
        {
            MergePagemap(eagerDir, lazyDir, outputDir, pagemapName, version, buffer);
        }
    }

    private static void MergePagemap(string eagerDir, string lazyDir, string outputDir, string pagemapName, uint version, byte[] buffer)
    {
        var eager = ImageFile.Read(Path.Combine(eagerDir, pagemapName), ImageMagic.Pagemap, version);
        string lazyPath = Path.Combine(lazyDir, pagemapName);
        var lazy = File.Exists(lazyPath) ? ImageFile.Read(lazyPath, ImageMagic.Pagemap, version) : null;
        uint pagesId = ImageFile.ParseEntry(eager, 0, PagemapHead.Parser).PagesId;
        if (lazy is not null && ImageFile.ParseEntry(lazy, 0, PagemapHead.Parser).PagesId != pagesId)
        {
            throw new ImageFormatException(lazyPath, $"pages_id differs from {eager.Path} ({pagesId})");
        }

        string pagesName = PagemapFile.PagesFileNameFor(pagesId);
        string eagerPagesPath = Path.Combine(eagerDir, pagesName);
        string lazyPagesPath = Path.Combine(lazyDir, pagesName);
        using var eagerPages = File.Exists(eagerPagesPath) ? ImageDirectory.OpenRead(eagerPagesPath) : null;
        using var lazyPages = File.Exists(lazyPagesPath) ? ImageDirectory.OpenRead(lazyPagesPath) : null;
        using var output = new ImageFileWriter(Path.Combine(outputDir, pagemapName), eager.Header);
        using var outputPages = eagerPages is not null || lazyPages is not null ? ImageDirectory.Create(Path.Combine(outputDir, pagesName)) : null;
        output.WriteEntry(eager.Entries[0]);

        int lazyIndex = 1;
        int lazyCount = lazy?.Entries.Count ?? 0;
        for (int i = 1; i < eager.Entries.Count; i++)
        {
            var entry = ImageFile.ParseEntry(eager, i, PagemapEntry.Parser);
            var (flags, nrPages) = PagemapFile.Normalise(entry);
            long bytes = checked((long)(nrPages * PageGeometry.PageSize));
            if (flags == PageFlags.Lazy && lazyIndex < lazyCount)
            {
                var lazyEntry = ImageFile.ParseEntry(lazy!, lazyIndex, PagemapEntry.Parser);
                var (lazyFlags, lazyPagesCount) = PagemapFile.Normalise(lazyEntry);
                if (lazyEntry.Vaddr == entry.Vaddr && lazyPagesCount == nrPages)
                {
                    output.WriteEntry(lazy!.Entries[lazyIndex]);
                    if ((lazyFlags & PageFlags.Present) != 0)
                    {
                        ImageDirectory.CopyBytes(
                            lazyPages ?? throw new ImageFormatException(lazyPagesPath, "pages file is missing"),
                            outputPages!, bytes, buffer, lazyPagesPath);
                    }

                    lazyIndex++;
                    continue;
                }
            }

            output.WriteEntry(eager.Entries[i]);
            if ((flags & PageFlags.Present) != 0)
            {
                ImageDirectory.CopyBytes(
                    eagerPages ?? throw new ImageFormatException(eagerPagesPath, "pages file is missing"),
                    outputPages!, bytes, buffer, eagerPagesPath);
            }
        }

        if (lazyIndex != lazyCount && lazy is not null)
        {
            throw new ImageFormatException(lazyPath, $"entry {lazyIndex} matches no PE_LAZY entry of {eager.Path}");
        }

        if (eagerPages is not null)
        {
            ImageDirectory.CopyRest(eagerPages, outputPages!, buffer);
        }
    }
}
