using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>
/// struct epoll_event (12 bytes, packed on x86_64): [u32 events][u64 data]. The data word is at offset 4,
/// not 8, because the kernel declares the struct <c>__attribute__((packed))</c> on x86_64.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal struct EpollEvent
{
    public const int Size = 12;

    [FieldOffset(0)] public EpollFlags Events;   // uint32_t events
    [FieldOffset(4)] public ulong Data;          // epoll_data_t data (u64 view)
}

/// <summary>EPOLL* event bits.</summary>
[Flags]
internal enum EpollFlags : uint
{
    None = 0,
    EPOLLIN = 0x001,
    EPOLLPRI = 0x002,
    EPOLLOUT = 0x004,
    EPOLLERR = 0x008,
    EPOLLHUP = 0x010,
    EPOLLRDHUP = 0x2000,

    /// <summary>Report once, then disarm until EPOLL_CTL_MOD re-arms.</summary>
    EPOLLONESHOT = 1u << 30,
}
