using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>struct cmsghdr (16 bytes on x86_64): [size_t cmsg_len][s32 cmsg_level][s32 cmsg_type], data follows.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal struct Cmsghdr
{
    public const int Size = 16;

    [FieldOffset(0)] public nuint Length;  // size_t cmsg_len (header + data, unaligned)
    [FieldOffset(8)] public int Level;     // int cmsg_level
    [FieldOffset(12)] public int Type;     // int cmsg_type
}
