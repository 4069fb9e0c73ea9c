using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Actors.Remote;

/// <summary>
/// One read of the page cache on its way through <see cref="RemoteFetchActor"/>: the pages, the pinned buffer their
/// replies are received into (which then is the UFFDIO_COPY source, no copy in between), and the completion the
/// <see cref="RemotePageSource"/> waits on. The actor cuts it into <see cref="WirePiece"/>s and completes it once every
/// page arrived; it never fails a read while one of its pieces is on the wire (the buffer could still be written).
/// </summary>
internal sealed class RemoteRead
{
    public RemoteRead(int pid, ulong dumpAddress, int pages, ReadPriority priority, nint buffer)
    {
        Pid = pid;
        DumpAddress = dumpAddress;
        Pages = pages;
        Priority = priority;
        Buffer = buffer;
        PagesLeft = pages;
    }

    public int Pid { get; }

    public ulong DumpAddress { get; }

    public int Pages { get; }

    public ReadPriority Priority { get; }

    /// <summary>Pinned, page-aligned, <see cref="Pages"/> pages long.</summary>
    public nint Buffer { get; }

    /// <summary>Pages not received yet (owned by the actor).</summary>
    public int PagesLeft { get; set; }

    /// <summary>
    /// Completed (on the actor's thread, continuations inline: they only hand the data on) once every page is in the
    /// buffer, or failed.
    /// </summary>
    public TaskCompletionSource Completion { get; } = new();

    public override string ToString() => $"pid {Pid} 0x{DumpAddress:x}+{Pages}p ({Priority})";
}

/// <summary>A part of a <see cref="RemoteRead"/> asked with one PS_IOV_GET.</summary>
internal sealed class WirePiece(RemoteRead read, int offsetPages, int pages)
{
    public RemoteRead Read { get; } = read;

    /// <summary>First page of the piece within the read.</summary>
    public int OffsetPages { get; } = offsetPages;

    public int Pages { get; } = pages;

    public ulong DumpAddress => Read.DumpAddress + ((ulong)OffsetPages << PageGeometry.PageShift);

    public long Bytes => (long)Pages << PageGeometry.PageShift;

    public bool IsFault => Read.Priority == ReadPriority.Fault;

    /// <summary>The link it was sent on (null while queued).</summary>
    public SourceLink? Link { get; set; }

    /// <summary>The connection generation it was sent in; a reply of another generation is stale.</summary>
    public int Generation { get; set; }

    /// <summary>Order of sending, so pieces re-queued after a failure keep their order.</summary>
    public long Sequence { get; set; }

    public override string ToString() => $"pid {Read.Pid} 0x{DumpAddress:x}+{Pages}p";
}
