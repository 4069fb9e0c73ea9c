using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>struct uffdio_register (32 bytes): [u64 range.start][u64 range.len][u64 mode][u64 ioctls].</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct UffdioRegister
{
    /// <summary>sizeof(struct uffdio_register).</summary>
    public const int Size = 32;

    /// <summary>The range to register.</summary>
    [FieldOffset(0)] public UffdioRange Range;  // struct uffdio_range range

    /// <summary>UFFDIO_REGISTER_MODE_* bits (MISSING=1, WP=2, MINOR=4).</summary>
    [FieldOffset(16)] public ulong Mode;        // __u64 mode

    /// <summary>Out: bitmask of ioctls usable on the range.</summary>
    [FieldOffset(24)] public ulong Ioctls;      // __u64 ioctls
}
