using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>struct uffdio_range (16 bytes): [u64 start][u64 len]. Argument of UNREGISTER and WAKE.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct UffdioRange
{
    /// <summary>sizeof(struct uffdio_range).</summary>
    public const int Size = 16;

    /// <summary>Page-aligned start address.</summary>
    [FieldOffset(0)] public ulong Start;   // __u64 start

    /// <summary>Length in bytes (page multiple).</summary>
    [FieldOffset(8)] public ulong Length;  // __u64 len
}
