using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>
/// struct msghdr (56 bytes on x86_64): [void* name][u32 namelen][pad 4][iovec* iov][size_t iovlen]
/// [void* control][size_t controllen][s32 flags][pad 4].
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal unsafe struct Msghdr
{
    public const int Size = 56;

    [FieldOffset(0)] public void* Name;               // void *msg_name
    [FieldOffset(8)] public uint NameLength;          // socklen_t msg_namelen
    [FieldOffset(16)] public Iovec* Iov;              // struct iovec *msg_iov
    [FieldOffset(24)] public nuint IovLength;         // size_t msg_iovlen
    [FieldOffset(32)] public void* Control;           // void *msg_control
    [FieldOffset(40)] public nuint ControlLength;     // size_t msg_controllen
    [FieldOffset(48)] public int Flags;               // int msg_flags
}
