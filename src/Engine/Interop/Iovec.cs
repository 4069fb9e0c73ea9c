using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>struct iovec (16 bytes): [void* iov_base][size_t iov_len].</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal unsafe struct Iovec
{
    public const int Size = 16;

    [FieldOffset(0)] public void* Base;   // void *iov_base
    [FieldOffset(8)] public nuint Length; // size_t iov_len
}
