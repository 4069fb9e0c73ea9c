using System.Runtime.InteropServices;

namespace LazyActors.Tools.Bench;

/// <summary>
/// struct rusage on x86_64 (144 bytes): [timeval ru_utime (16)][timeval ru_stime (16)][long ru_maxrss @32]
/// [13 more longs]. Only the fields the bench reads are declared; ru_maxrss is in KiB.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal struct Rusage
{
    public const int Size = 144;

    [FieldOffset(0)] public long UserSeconds;          // ru_utime.tv_sec
    [FieldOffset(8)] public long UserMicroseconds;     // ru_utime.tv_usec
    [FieldOffset(16)] public long SystemSeconds;       // ru_stime.tv_sec
    [FieldOffset(24)] public long SystemMicroseconds;  // ru_stime.tv_usec
    [FieldOffset(32)] public long MaxRssKiB;           // ru_maxrss

    /// <summary>User plus system CPU time in seconds.</summary>
    public readonly double CpuSeconds => UserSeconds + SystemSeconds + (UserMicroseconds + SystemMicroseconds) / 1e6;
}
