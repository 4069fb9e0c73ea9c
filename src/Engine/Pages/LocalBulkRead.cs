namespace LazyActors.Engine.Pages;

/// <summary>
/// How a local restore's big copies (background slices, and fault windows with <c>local-bulk-read-faults</c>) get their
/// bytes from the pages files (<c>local-bulk-read</c>).
/// </summary>
public enum LocalBulkRead
{
    /// <summary>UFFDIO_COPY straight from the read-only mapping of the pages file: one copy, but the kernel faults the
    /// file's pages into the daemon inside the ioctl (and <c>mapped-pages-release</c> unmaps them after it).</summary>
    Mapped,

    /// <summary>pread(2) into a buffer of the copying thread's own, pre-faulted and reused, then UFFDIO_COPY from it (as
    /// CRIU's daemon does): two copies, no page-table work on the source side (<see cref="Uffd.PagesFileStaging"/>).</summary>
    Pread,
}
