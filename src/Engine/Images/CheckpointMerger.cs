using LazyActors.Engine.Images.Proto;

namespace LazyActors.Engine.Images;

/// <summary>
/// Rebuilds a normal checkpoint from the eager and lazy sets written by <see cref="CheckpointSplitter"/>:
/// each PE_LAZY-only entry of the eager pagemap that has a same-address, same-size entry in the lazy pagemap is replaced
/// by that entry's original bytes, and the pages files are interleaved back in entry order. PE_LAZY-only entries with no
/// counterpart (the source was itself a lazy dump) are kept. Every other file comes from the eager set.
/// </summary>
/// <remarks>
/// The lazy set must be the one split from the same checkpoint as the eager set, or pages would be lost silently: its
/// inventory, pstree, core and mm images equal the eager set's byte for byte (the split copies them), it has a pagemap
/// for every pagemap of the eager set and no other, with the same pages_id, each of its entries matches a PE_LAZY entry
/// of the eager pagemap in order, and its pages files hold exactly the data of those entries.
/// </remarks>
public static class CheckpointMerger
{
    /// <summary>
    /// Merges <paramref name="eagerDir"/> and <paramref name="lazyDir"/> into <paramref name="outputDir"/>, a new or empty
    /// directory (or replaced with <paramref name="force"/>), written beside its place and renamed there at the end so
    /// that a failed merge leaves nothing half-written (see <see cref="StagedDirectory"/>).
    /// </summary>
    /// <exception cref="ImageFormatException">A set is invalid, or the lazy set does not belong to the eager set; the
    /// message names the file.</exception>
    /// <exception cref="IOException">The output is a non-empty directory (without <paramref name="force"/>) or cannot be written.</exception>
    public static void Merge(string eagerDir, string lazyDir, string outputDir, bool force = false)
    {
        ImageDirectory.RequireOutsideOf(eagerDir, outputDir);
        ImageDirectory.RequireOutsideOf(lazyDir, outputDir);
        if (!Directory.Exists(lazyDir))
        {
            throw new ImageFormatException(Path.GetFullPath(lazyDir), "lazy page set does not exist (give the --lazy-out directory of the split)");
        }

        Checkpoint.Open(eagerDir).Dispose(); // both are valid image sets (split writes two) before they are compared
        Checkpoint.Open(lazyDir).Dispose();

        uint version = ImageDirectory.ReadImgVersion(eagerDir);
        var pagesIds = ImageDirectory.PagesIdsByPagemap(eagerDir, version);
        RequireSameCheckpoint(eagerDir, lazyDir, pagesIds);
        var producedPages = pagesIds.Values.Select(PagemapFile.PagesFileNameFor).ToHashSet(StringComparer.Ordinal);
        using var output = StagedDirectory.Begin(outputDir, force);
        foreach (string path in Directory.EnumerateFileSystemEntries(eagerDir))
        {
            string name = Path.GetFileName(path);
            if (!pagesIds.ContainsKey(name) && !producedPages.Contains(name))
            {
                ImageDirectory.CopyEntry(path, Path.Combine(output.Path, name));
            }
        }

        var buffer = new byte[1 << 20];
        foreach (string pagemapName in pagesIds.Keys)
        {
            MergePagemap(eagerDir, lazyDir, output.Path, pagemapName, version, buffer);
        }

        output.Commit();
    }

    /// <summary>
    /// Refuses a lazy set that was not split from the same checkpoint as the eager set (see the remarks): a missing or
    /// foreign lazy part would otherwise merge into a checkpoint without its lazy pages.
    /// </summary>
    private static void RequireSameCheckpoint(string eagerDir, string lazyDir, IReadOnlyDictionary<string, uint> eagerPagemaps)
    {
        var lazyPagemaps = new HashSet<string>(StringComparer.Ordinal);
        foreach (string path in Directory.EnumerateFileSystemEntries(lazyDir))
        {
            string name = Path.GetFileName(path);
            if (ImageDirectory.IsPagemapFile(name))
            {
                lazyPagemaps.Add(name);
                if (!eagerPagemaps.ContainsKey(name))
                {
                    throw new ImageFormatException(path, $"has no counterpart in the eager set {eagerDir}: the lazy set belongs to another checkpoint");
                }
            }
            else if (name.StartsWith(ImageDirectory.PagesPrefix, StringComparison.Ordinal))
            {
                continue;
            }
            else
            {
                RequireIdentical(path, Path.Combine(eagerDir, name), eagerDir);
            }
        }

        foreach (string name in new[] { "inventory.img", "pstree.img" })
        {
            if (!File.Exists(Path.Combine(lazyDir, name)))
            {
                throw new ImageFormatException(Path.Combine(lazyDir, name), "image file is missing: this is not a lazy set written by split");
            }
        }

        foreach (string name in eagerPagemaps.Keys)
        {
            if (!lazyPagemaps.Contains(name))
            {
                throw new ImageFormatException(Path.Combine(lazyDir, name), $"image file is missing: split writes one for every pagemap of the eager set {eagerDir}");
            }
        }
    }

    private static void RequireIdentical(string lazyPath, string eagerPath, string eagerDir)
    {
        var lazyBytes = ImageFileAccess.TryReadAll(lazyPath, ImageFileAccess.MaxMetadataImageBytes);
        var eagerBytes = ImageFileAccess.TryReadAll(eagerPath, ImageFileAccess.MaxMetadataImageBytes);
        if (eagerBytes is null)
        {
            throw new ImageFormatException(lazyPath, $"has no counterpart in the eager set {eagerDir}: the lazy set belongs to another checkpoint");
        }

        if (lazyBytes is null || !lazyBytes.AsSpan().SequenceEqual(eagerBytes))
        {
            throw new ImageFormatException(lazyPath, $"differs from {eagerPath}: the lazy set was split from another checkpoint");
        }
    }

    private static void MergePagemap(string eagerDir, string lazyDir, string outputDir, string pagemapName, uint version, byte[] buffer)
    {
        var eager = ImageFile.Read(Path.Combine(eagerDir, pagemapName), ImageMagic.Pagemap, version);
        string lazyPath = Path.Combine(lazyDir, pagemapName);
        var lazy = ImageFile.Read(lazyPath, ImageMagic.Pagemap, version);
        uint pagesId = ImageFile.ParseEntry(eager, 0, PagemapHead.Parser).PagesId;
        if (ImageFile.ParseEntry(lazy, 0, PagemapHead.Parser).PagesId != pagesId)
        {
            throw new ImageFormatException(lazyPath, $"pages_id differs from {eager.Path} ({pagesId})");
        }

        string pagesName = PagemapFile.PagesFileNameFor(pagesId);
        string eagerPagesPath = Path.Combine(eagerDir, pagesName);
        string lazyPagesPath = Path.Combine(lazyDir, pagesName);
        using var eagerPages = ImageFileAccess.TryOpenRegular(eagerPagesPath, out _) is { } e ? new FileStream(e, FileAccess.Read, 1 << 16) : null;
        using var lazyPages = ImageFileAccess.TryOpenRegular(lazyPagesPath, out _) is { } l ? new FileStream(l, FileAccess.Read, 1 << 16) : null;
        using var output = new ImageFileWriter(Path.Combine(outputDir, pagemapName), eager.Header);
        using var outputPages = eagerPages is not null || lazyPages is not null ? ImageDirectory.Create(Path.Combine(outputDir, pagesName)) : null;
        output.WriteEntry(eager.Entries[0]);

        int lazyIndex = 1;
        int lazyCount = lazy.Entries.Count;
        for (int i = 1; i < eager.Entries.Count; i++)
        {
            var entry = ImageFile.ParseEntry(eager, i, PagemapEntry.Parser);
            var (flags, nrPages) = PagemapFile.Normalise(entry);
            long bytes = ImageDirectory.EntryBytes(eager.Path, i, entry.Vaddr, nrPages);
            if (flags == PageFlags.Lazy && lazyIndex < lazyCount)
            {
                var lazyEntry = ImageFile.ParseEntry(lazy, lazyIndex, PagemapEntry.Parser);
                var (lazyFlags, lazyPagesCount) = PagemapFile.Normalise(lazyEntry);
                if (lazyEntry.Vaddr == entry.Vaddr && lazyPagesCount == nrPages)
                {
                    output.WriteEntry(lazy.Entries[lazyIndex]);
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

        if (lazyIndex != lazyCount)
        {
            throw new ImageFormatException(lazyPath, $"entry {lazyIndex} matches no PE_LAZY entry of {eager.Path}: the lazy set was split from another checkpoint");
        }

        if (lazyPages is not null && lazyPages.Position != lazyPages.Length)
        {
            throw new ImageFormatException(lazyPagesPath, $"holds {lazyPages.Length - lazyPages.Position} bytes more than the entries of {lazyPath} describe");
        }

        if (eagerPages is not null)
        {
            ImageDirectory.CopyRest(eagerPages, outputPages!, buffer);
        }
    }
}
