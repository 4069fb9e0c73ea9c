using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>struct pollfd (8 bytes): [s32 fd][s16 events][s16 revents].</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal struct PollFd
{
    public const int Size = 8;
    public const short POLLIN = 0x001;
    public const short POLLOUT = 0x004;
    public const short POLLERR = 0x008;
    public const short POLLHUP = 0x010;
    public const short POLLNVAL = 0x020;
    public const short POLLRDHUP = 0x2000;

    [FieldOffset(0)] public int Fd;           // int fd
    [FieldOffset(4)] public short Events;     // short events
    [FieldOffset(6)] public short REvents;    // short revents
}
