using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>struct uffdio_zeropage (32 bytes): [u64 range.start][u64 range.len][u64 mode][s64 zeropage].</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct UffdioZeropage
{
    /// <summary>sizeof(struct uffdio_zeropage).</summary>
    public const int Size = 32;

    /// <summary>UFFDIO_ZEROPAGE_MODE_DONTWAKE.</summary>
    public const ulong ModeDontWake = 1;

    /// <summary>The range to fill with zero pages.</summary>
    [FieldOffset(0)] public UffdioRange Range;  // struct uffdio_range range

    /// <summary>UFFDIO_ZEROPAGE_MODE_* bits.</summary>
    [FieldOffset(16)] public ulong Mode;        // __u64 mode

    /// <summary>Out: bytes zeroed, or a negative errno.</summary>
    [FieldOffset(24)] public long Zeropage;     // __s64 zeropage
}
