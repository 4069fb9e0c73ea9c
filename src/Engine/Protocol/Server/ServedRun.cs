using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Protocol.Server;

/// <summary>
/// One run a lazy page server answers from: <paramref name="NrPages"/> address-contiguous lazy pages from dump address
/// <paramref name="Vaddr"/>, which CRIU's page pipe would hold as one iov. A GET that starts inside it is clamped to its
/// end. <paramref name="PagesFileOffset"/> is where its bytes start in <c>pages-&lt;id&gt;.img</c> (contiguous, since
/// pagemap order is file order), or -1 when the pages are PE_LAZY without PE_PRESENT (no data here).
/// </summary>
public readonly record struct ServedRun(ulong Vaddr, ulong NrPages, long PagesFileOffset)
{
    /// <summary>Dump-time address just past the run.</summary>
    public ulong End => Vaddr + (NrPages << PageGeometry.PageShift);

    /// <summary>True when the bytes are in this image set.</summary>
    public bool HasData => PagesFileOffset >= 0;
}
