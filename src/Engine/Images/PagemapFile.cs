using LazyActors.Engine.Images.Proto;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Images;

/// <summary>
/// A decoded <c>pagemap-*.img</c>: the <c>PagemapHead</c> (naming <c>pages-&lt;id&gt;.img</c>), the raw
/// <c>PagemapEntry</c> messages (for byte-exact rewriting) and the normalised, address-sorted <see cref="PagemapRun"/>s.
/// </summary>
public sealed class PagemapFile
{
    private PagemapFile(RawImage raw, uint pagesId, IReadOnlyList<PagemapEntry> entries, IReadOnlyList<PagemapRun> runs, ulong presentPages)
    {
        Raw = raw;
        PagesId = pagesId;
        Entries = entries;
        Runs = runs;
        PresentPages = presentPages;
    }

    /// <summary>The framing and raw payloads (entry 0 is the head).</summary>
    public RawImage Raw { get; }

    /// <summary>Path of the pagemap file.</summary>
    public string Path => Raw.Path;

    /// <summary><c>PagemapHead.pages_id</c>.</summary>
    public uint PagesId { get; }

    /// <summary>The entries after the head, as decoded messages (unknown fields preserved).</summary>
    internal IReadOnlyList<PagemapEntry> Entries { get; }

    /// <summary>One normalised run per entry, same order.</summary>
    public IReadOnlyList<PagemapRun> Runs { get; }

    /// <summary>Pages with PE_PRESENT, i.e. the number of pages the pages file must hold.</summary>
    public ulong PresentPages { get; }

    /// <summary>File name of the pages file in the same directory.</summary>
    public string PagesFileName => PagesFileNameFor(PagesId);

    /// <summary><c>pages-&lt;id&gt;.img</c>.</summary>
    public static string PagesFileNameFor(uint pagesId) => $"pages-{pagesId}.img";

    /// <summary>Reads and validates <paramref name="path"/> (entries must be page aligned, sorted and disjoint).</summary>
    public static PagemapFile Read(string path, uint imgVersion)
    {
        var raw = ImageFile.Read(path, ImageMagic.Pagemap, imgVersion);
        var head = ImageFile.ParseEntry(raw, 0, PagemapHead.Parser);
        var entries = new List<PagemapEntry>(raw.Entries.Count - 1);
        var runs = new List<PagemapRun>(raw.Entries.Count - 1);
        long offset = 0;
        ulong previousEnd = 0;
        for (int i = 1; i < raw.Entries.Count; i++)
        {
            var entry = ImageFile.ParseEntry(raw, i, PagemapEntry.Parser);
            var (flags, nrPages) = Normalise(entry);
            if (!PageGeometry.IsAligned(entry.Vaddr))
            {
                throw new ImageFormatException(path, $"entry {i} vaddr 0x{entry.Vaddr:x} is not page aligned");
            }

            if (nrPages == 0 || entry.Vaddr >= PageGeometry.UserAddressLimit
                || nrPages > (PageGeometry.UserAddressLimit - entry.Vaddr) / PageGeometry.PageSize)
            {
                throw new ImageFormatException(path, $"entry {i} at 0x{entry.Vaddr:x} has an invalid page count {nrPages} (it must be at least 1 and end below the user address limit 0x{PageGeometry.UserAddressLimit:x})");
            }

            if (i > 1 && entry.Vaddr < previousEnd)
            {
                throw new ImageFormatException(path, $"entry {i} at 0x{entry.Vaddr:x} is not after the previous entry's end 0x{previousEnd:x} (entries must be sorted and disjoint)");
            }

            bool present = (flags & PageFlags.Present) != 0;
            var run = new PagemapRun(entry.Vaddr, nrPages, flags, present ? offset : -1);
            if (present)
            {
                offset += (long)(nrPages * PageGeometry.PageSize); // bounded: the entries are disjoint and below 2^57
            }

            previousEnd = run.End;
            entries.Add(entry);
            runs.Add(run);
        }

        return new PagemapFile(raw, head.PagesId, entries, runs, PageGeometry.PagesIn((ulong)offset));
    }

    /// <summary>
    /// CRIU's compatibility normalisation (criu/pagemap.c <c>init_compat_pagemap_entry</c>): <c>in_parent</c> means
    /// PE_PARENT; absent flags mean PE_PRESENT; absent <c>nr_pages</c> falls back to <c>compat_nr_pages</c>.
    /// </summary>
    internal static (PageFlags Flags, ulong NrPages) Normalise(PagemapEntry entry)
    {
        var flags = entry.HasFlags ? (PageFlags)entry.Flags : PageFlags.None;
        if (entry.HasInParent && entry.InParent)
        {
            flags |= PageFlags.Parent;
        }
        else if (!entry.HasFlags)
        {
            flags = PageFlags.Present;
        }

        ulong nrPages = entry.HasNrPages ? entry.NrPages : entry.CompatNrPages;
        return (flags, nrPages);
    }
}
