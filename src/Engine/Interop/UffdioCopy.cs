using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>struct uffdio_copy (40 bytes): [u64 dst][u64 src][u64 len][u64 mode][s64 copy].</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct UffdioCopy
{
    /// <summary>sizeof(struct uffdio_copy).</summary>
    public const int Size = 40;

    /// <summary>UFFDIO_COPY_MODE_DONTWAKE: do not wake the faulting threads.</summary>
    public const ulong ModeDontWake = 1;

    /// <summary>Destination (page aligned) in the registered range.</summary>
    [FieldOffset(0)] public ulong Destination;  // __u64 dst

    /// <summary>Source buffer in the calling process.</summary>
    [FieldOffset(8)] public ulong Source;       // __u64 src

    /// <summary>Bytes to copy (page multiple).</summary>
    [FieldOffset(16)] public ulong Length;      // __u64 len

    /// <summary>UFFDIO_COPY_MODE_* bits.</summary>
    [FieldOffset(24)] public ulong Mode;        // __u64 mode

    /// <summary>Out: bytes copied, or a negative errno.</summary>
    [FieldOffset(32)] public long Copy;         // __s64 copy
}
