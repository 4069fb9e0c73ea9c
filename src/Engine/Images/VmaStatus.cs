namespace LazyActors.Engine.Images;

/// <summary>CRIU VMA status bits (criu/include/image.h) as stored in <c>VmaEntry.status</c>.</summary>
public static class VmaStatus
{
    /// <summary>VMA_AREA_REGULAR: a mapping CRIU dumps and restores.</summary>
    public const uint Regular = 1u << 0;
    /// <summary>VMA_AREA_STACK: the main thread's stack.</summary>
    public const uint Stack = 1u << 1;
    /// <summary>VMA_AREA_VSYSCALL: the legacy vsyscall page.</summary>
    public const uint Vsyscall = 1u << 2;
    /// <summary>VMA_AREA_VDSO: the vDSO.</summary>
    public const uint Vdso = 1u << 3;
    /// <summary>VMA_AREA_HEAP: the brk heap.</summary>
    public const uint Heap = 1u << 5;
    /// <summary>VMA_FILE_PRIVATE: a private file mapping.</summary>
    public const uint FilePrivate = 1u << 6;
    /// <summary>VMA_FILE_SHARED: a shared file mapping.</summary>
    public const uint FileShared = 1u << 7;
    /// <summary>VMA_ANON_SHARED: shared anonymous memory.</summary>
    public const uint AnonShared = 1u << 8;
    /// <summary>VMA_ANON_PRIVATE: private anonymous memory (what lazy restore serves).</summary>
    public const uint AnonPrivate = 1u << 9;
    /// <summary>VMA_AREA_SYSVIPC: a SysV shared memory segment.</summary>
    public const uint SysVIpc = 1u << 10;
    /// <summary>VMA_AREA_SOCKET: a packet socket's ring.</summary>
    public const uint Socket = 1u << 11;
    /// <summary>VMA_AREA_VVAR: the vvar page.</summary>
    public const uint Vvar = 1u << 12;
    /// <summary>VMA_AREA_AIORING: an AIO ring.</summary>
    public const uint AioRing = 1u << 13;
    /// <summary>VMA_AREA_MEMFD: a memfd mapping.</summary>
    public const uint Memfd = 1u << 14;
    /// <summary>VMA_AREA_SHSTK: a shadow stack.</summary>
    public const uint ShadowStack = 1u << 15;
    /// <summary>VMA_AREA_GUARD: a guard region.</summary>
    public const uint Guard = 1u << 16;
    /// <summary>VMA_AREA_UPROBES: the uprobes area.</summary>
    public const uint Uprobes = 1u << 17;
}
