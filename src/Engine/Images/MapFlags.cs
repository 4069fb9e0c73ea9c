namespace LazyActors.Engine.Images;

/// <summary>mmap flag values (x86_64) as stored in <c>VmaEntry.flags</c>.</summary>
public static class MapFlags
{
    public const uint Shared = 0x1;
    public const uint Private = 0x2;
    public const uint Anonymous = 0x20;
    public const uint GrowsDown = 0x100;
    public const uint Locked = 0x2000;
    public const uint HugeTlb = 0x40000;
}
