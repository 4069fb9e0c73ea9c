namespace LazyActors.Engine.Images;

/// <summary>CRIU VMA status bits (criu/include/image.h) as stored in <c>VmaEntry.status</c>.</summary>
public static class VmaStatus
{
    public const uint Regular = 1u << 0;
    public const uint Stack = 1u << 1;
    public const uint Vsyscall = 1u << 2;
    public const uint Vdso = 1u << 3;
    public const uint Heap = 1u << 5;
    public const uint FilePrivate = 1u << 6;
    public const uint FileShared = 1u << 7;
    public const uint AnonShared = 1u << 8;
    public const uint AnonPrivate = 1u << 9;
    public const uint SysVIpc = 1u << 10;
    public const uint Socket = 1u << 11;
    public const uint Vvar = 1u << 12;
    public const uint AioRing = 1u << 13;
    public const uint Memfd = 1u << 14;
    public const uint ShadowStack = 1u << 15;
    public const uint Guard = 1u << 16;
    public const uint Uprobes = 1u << 17;
}
