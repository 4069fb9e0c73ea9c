namespace LazyActors.Engine.Protocol;

/// <summary>
/// Commands of CRIU's page-server protocol (low 16 bits of <see cref="PageServerIov.Command"/>); spec §4.2.
/// <see cref="Close"/> and <see cref="ForceClose"/> are the former PS_IOV_FLUSH and PS_IOV_FLUSH_N_CLOSE.
/// </summary>
public enum PageServerCommand : ushort
{
    /// <summary>PS_IOV_ADD: pages follow (pre-dump/dump to a page server).</summary>
    Add = 1,
    /// <summary>PS_IOV_HOLE: pages that are in the parent image.</summary>
    Hole = 2,
    /// <summary>PS_IOV_OPEN: open a pagemap image for a task.</summary>
    Open = 3,
    /// <summary>PS_IOV_OPEN2: open, with a reply saying whether a parent image exists.</summary>
    Open2 = 4,
    /// <summary>PS_IOV_PARENT: ask whether the parent image has the pages.</summary>
    Parent = 5,

    /// <summary>Pages with flags; also the page server's reply to <see cref="Get"/> (data follows when PE_PRESENT).</summary>
    AddWithFlags = 6,

    /// <summary>A lazy client asks for pages: <c>dst_id</c> is the raw virtual pid, not an encoded id.</summary>
    Get = 7,

    /// <summary>End of session: the server replies with a 4-byte status.</summary>
    Close = 0x1023,

    /// <summary>End of session without waiting for EOF (used with an inherited <c>--ps-socket</c>).</summary>
    ForceClose = 0x1024,
}
