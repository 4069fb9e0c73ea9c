using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>
/// struct uffd_msg (32 bytes, packed): [u8 event][u8 reserved1][u16 reserved2][u32 reserved3] then a 24-byte union
/// at offset 8. The union views are exposed as overlapping fields; read only the ones that match <see cref="Event"/>.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct UffdMsg
{
    /// <summary>sizeof(struct uffd_msg).</summary>
    public const int Size = 32;

    /// <summary>The event kind.</summary>
    [FieldOffset(0)] public UffdEvent Event;          // __u8 event

    /// <summary>Pagefault: UFFD_PAGEFAULT_FLAG_* (WRITE=1, WP=2, MINOR=4).</summary>
    [FieldOffset(8)] public ulong PagefaultFlags;     // __u64 arg.pagefault.flags

    /// <summary>Pagefault: the faulting address (not page aligned).</summary>
    [FieldOffset(16)] public ulong PagefaultAddress;  // __u64 arg.pagefault.address

    /// <summary>Pagefault: the faulting thread id (only with UFFD_FEATURE_THREAD_ID).</summary>
    [FieldOffset(24)] public uint PagefaultPtid;      // __u32 arg.pagefault.feat.ptid

    /// <summary>Fork: the new userfaultfd, already installed in the reading process.</summary>
    [FieldOffset(8)] public uint ForkUfd;             // __u32 arg.fork.ufd

    /// <summary>Remap: old start address.</summary>
    [FieldOffset(8)] public ulong RemapFrom;          // __u64 arg.remap.from

    /// <summary>Remap: new start address.</summary>
    [FieldOffset(16)] public ulong RemapTo;           // __u64 arg.remap.to

    /// <summary>Remap: length of the moved range.</summary>
    [FieldOffset(24)] public ulong RemapLength;       // __u64 arg.remap.len

    /// <summary>Remove/Unmap: start of the range.</summary>
    [FieldOffset(8)] public ulong RemoveStart;        // __u64 arg.remove.start

    /// <summary>Remove/Unmap: end of the range (exclusive).</summary>
    [FieldOffset(16)] public ulong RemoveEnd;         // __u64 arg.remove.end

    /// <inheritdoc />
    public override readonly string ToString() => Event switch
    {
        UffdEvent.Pagefault => $"Pagefault(addr=0x{PagefaultAddress:x}, flags=0x{PagefaultFlags:x})",
        UffdEvent.Fork => $"Fork(ufd={ForkUfd})",
        UffdEvent.Remap => $"Remap(from=0x{RemapFrom:x}, to=0x{RemapTo:x}, len=0x{RemapLength:x})",
        UffdEvent.Remove => $"Remove(0x{RemoveStart:x}-0x{RemoveEnd:x})",
        UffdEvent.Unmap => $"Unmap(0x{RemoveStart:x}-0x{RemoveEnd:x})",
        _ => $"UnknownEvent(0x{(byte)Event:x2})",
    };
}
