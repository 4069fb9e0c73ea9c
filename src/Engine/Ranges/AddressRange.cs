namespace LazyActors.Engine.Ranges;

/// <summary>
/// A half-open, page-aligned range <c>[Start, End)</c> of <b>current</b> virtual addresses in a restored task, together
/// with the <b>dump-time</b> address of its first byte (<see cref="DumpStart"/>; CRIU's <c>img_start</c>). The mapping
/// is linear: the byte at <c>Start + k</c> was at <c>DumpStart + k</c> when the task was dumped. Current and dump
/// addresses differ only after an <c>mremap</c> (REMAP event) moved the range.
/// </summary>
/// <param name="Start">First current address (inclusive, page-aligned).</param>
/// <param name="End">Current address just past the range (exclusive, page-aligned).</param>
/// <param name="DumpStart">Dump-time address corresponding to <paramref name="Start"/>.</param>
public readonly record struct AddressRange(ulong Start, ulong End, ulong DumpStart)
{
    /// <summary>Length in bytes.</summary>
    public ulong Length => End - Start;

    /// <summary>Length in pages.</summary>
    public ulong Pages => (End - Start) >> PageGeometry.PageShift;

    /// <summary>Dump-time address just past the range.</summary>
    public ulong DumpEnd => DumpStart + (End - Start);

    /// <summary>True when the range holds no byte.</summary>
    public bool IsEmpty => End <= Start;

    /// <summary>True when <paramref name="address"/> (a current address) lies inside the range.</summary>
    public bool Contains(ulong address) => address >= Start && address < End;

    /// <summary>True when <paramref name="dumpAddress"/> (a dump-time address) lies inside the range's dump image.</summary>
    public bool ContainsDumpAddress(ulong dumpAddress) => dumpAddress >= DumpStart && dumpAddress - DumpStart < End - Start;

    /// <summary>Dump-time address of the current address <paramref name="address"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The address is outside the range.</exception>
    public ulong DumpAddressOf(ulong address)
    {
        if (!Contains(address))
        {
            throw new ArgumentOutOfRangeException(nameof(address), $"0x{address:x} is outside {this}");
        }

        return DumpStart + (address - Start);
    }

    /// <summary>Current address of the dump-time address <paramref name="dumpAddress"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The dump address is outside the range's dump image.</exception>
    public ulong CurrentAddressOf(ulong dumpAddress)
    {
        if (!ContainsDumpAddress(dumpAddress))
        {
            throw new ArgumentOutOfRangeException(nameof(dumpAddress), $"dump address 0x{dumpAddress:x} is outside {this}");
        }

        return Start + (dumpAddress - DumpStart);
    }

    /// <summary>
    /// The part of this range inside <c>[start, end)</c> with its dump mapping kept linear; empty (Start == End) when
    /// they do not overlap.
    /// </summary>
    public AddressRange Intersect(ulong start, ulong end)
    {
        var s = Math.Max(start, Start);
        var e = Math.Min(end, End);
        return e <= s ? new AddressRange(s, s, DumpStart) : new AddressRange(s, e, DumpStart + (s - Start));
    }

    /// <inheritdoc />
    public override string ToString() => $"[0x{Start:x}, 0x{End:x}) dump 0x{DumpStart:x}";
}
