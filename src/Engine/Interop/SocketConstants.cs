namespace LazyActors.Engine.Interop;

/// <summary>Socket-layer constants (x86_64 Linux values).</summary>
internal static class SocketConstants
{
    public const int AF_UNIX = 1;
    public const int SOCK_STREAM = 1;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_SEQPACKET = 5;
    public const int FIONREAD = 0x541B;
    public const int SOCK_NONBLOCK = OpenFlags.O_NONBLOCK;
    public const int SOCK_CLOEXEC = OpenFlags.O_CLOEXEC;
    public const int SOL_SOCKET = 1;
    public const int SCM_RIGHTS = 1;
    public const int SO_PEERCRED = 17;
    public const int MSG_PEEK = 0x2;
    public const int MSG_CTRUNC = 0x8;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int MSG_CMSG_CLOEXEC = 0x40000000;
}
