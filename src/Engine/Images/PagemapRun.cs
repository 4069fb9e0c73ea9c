using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Images;

/// <summary>
/// A normalised pagemap entry: <paramref name="NrPages"/> pages from dump address <paramref name="Vaddr"/>.
/// <paramref name="PagesFileOffset"/> is the byte offset of its data in <c>pages-&lt;id&gt;.img</c>, or -1 without PE_PRESENT.
/// </summary>
public readonly record struct PagemapRun(ulong Vaddr, ulong NrPages, PageFlags Flags, long PagesFileOffset)
{
    /// <summary>Exclusive end address.</summary>
    public ulong End => Vaddr + (NrPages * PageGeometry.PageSize);

    /// <summary>True when the data is in this image set's pages file.</summary>
    public bool IsPresent => (Flags & PageFlags.Present) != 0;

    /// <summary>True when the entry is flagged PE_LAZY.</summary>
    public bool IsLazy => (Flags & PageFlags.Lazy) != 0;
}
