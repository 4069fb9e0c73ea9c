using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>struct uffdio_api (24 bytes): [u64 api][u64 features][u64 ioctls].</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct UffdioApi
{
    /// <summary>sizeof(struct uffdio_api).</summary>
    public const int Size = 24;

    /// <summary>In: UFFD_API (0xAA). Out: the same on success.</summary>
    [FieldOffset(0)] public ulong Api;        // __u64 api

    /// <summary>In: wanted features. Out: granted (or, with 0 in, all supported) features.</summary>
    [FieldOffset(8)] public ulong Features;   // __u64 features

    /// <summary>Out: bitmask of ioctls available on the fd.</summary>
    [FieldOffset(16)] public ulong Ioctls;    // __u64 ioctls
}
