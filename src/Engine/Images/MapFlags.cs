namespace LazyActors.Engine.Images;

/// <summary>mmap flag values (x86_64) as stored in <c>VmaEntry.flags</c>.</summary>
public static class MapFlags
{
    /// <summary>MAP_SHARED.</summary>
    public const uint Shared = 0x1;
    /// <summary>MAP_PRIVATE.</summary>
    public const uint Private = 0x2;
    /// <summary>MAP_ANONYMOUS.</summary>
    public const uint Anonymous = 0x20;
    /// <summary>MAP_GROWSDOWN (stack-like mapping).</summary>
    public const uint GrowsDown = 0x100;
    /// <summary>MAP_LOCKED.</summary>
    public const uint Locked = 0x2000;
    /// <summary>MAP_HUGETLB.</summary>
    public const uint HugeTlb = 0x40000;
}
