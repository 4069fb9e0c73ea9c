namespace LazyActors.Engine.Ranges;

/// <summary>
/// A request for <see cref="Pages"/> pages starting at the dump-time address <see cref="DumpAddress"/>; also the shape
/// of a coalesced read run produced by <see cref="PageRunCoalescer"/>.
/// </summary>
/// <param name="DumpAddress">Page-aligned dump-time address of the first page.</param>
/// <param name="Pages">Number of pages (at least 1).</param>
public readonly record struct PageRequest(ulong DumpAddress, uint Pages)
{
    /// <summary>Length in bytes.</summary>
    public ulong Length => (ulong)Pages << PageGeometry.PageShift;

    /// <summary>Dump-time address just past the last page.</summary>
    public ulong EndAddress => DumpAddress + Length;

    /// <inheritdoc />
    public override string ToString() => $"0x{DumpAddress:x}+{Pages}p";
}
