using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Pages;

/// <summary>
/// A contiguous piece of page data in memory: <see cref="Pages"/> pages that were at dump-time address
/// <see cref="DumpAddress"/>, readable at <see cref="Address"/> (a read-only mapping of a pages file or a pinned
/// buffer) for as long as the owning <see cref="PageRead"/> or <see cref="PageData"/> is not disposed.
/// </summary>
/// <param name="DumpAddress">Dump-time address of the first page (page-aligned).</param>
/// <param name="Pages">Number of pages.</param>
/// <param name="Address">Address of the first byte in this process.</param>
public readonly record struct PageSegment(ulong DumpAddress, int Pages, nint Address)
{
    /// <summary>Length in bytes.</summary>
    public ulong Length => (ulong)Pages << PageGeometry.PageShift;

    /// <summary>Dump-time address just past the segment.</summary>
    public ulong DumpEnd => DumpAddress + Length;
}
