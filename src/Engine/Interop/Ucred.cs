using System.Runtime.InteropServices;

namespace LazyActors.Engine.Interop;

/// <summary>struct ucred (12 bytes): [s32 pid][u32 uid][u32 gid]. What SO_PEERCRED returns for a UNIX socket peer.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct Ucred
{
    /// <summary>sizeof(struct ucred).</summary>
    public const int Size = 12;

    /// <summary>The peer's pid when it connected, as seen from this process's pid namespace (0 if not visible there).</summary>
    [FieldOffset(0)] public int Pid;   // pid_t pid

    /// <summary>The peer's effective uid.</summary>
    [FieldOffset(4)] public uint Uid;  // uid_t uid

    /// <summary>The peer's effective gid.</summary>
    [FieldOffset(8)] public uint Gid;  // gid_t gid
}
