namespace LazyActors.Engine.Interop;

/// <summary>PROT_* values for mmap/mprotect.</summary>
[Flags]
public enum ProtFlags
{
    PROT_NONE = 0x0,
    PROT_READ = 0x1,
    PROT_WRITE = 0x2,
    PROT_EXEC = 0x4,
}

/// <summary>MAP_* values for mmap on x86_64.</summary>
[Flags]
public enum MapFlags
{
    MAP_SHARED = 0x01,
    MAP_PRIVATE = 0x02,
    MAP_FIXED = 0x10,
    MAP_ANONYMOUS = 0x20,
    MAP_NORESERVE = 0x4000,
    MAP_POPULATE = 0x8000,
    /// <summary>Like MAP_FIXED but fails with EEXIST instead of replacing an existing mapping.</summary>
    MAP_FIXED_NOREPLACE = 0x100000,
}

/// <summary>MADV_* advice values.</summary>
public enum MadviseAdvice
{
    MADV_NORMAL = 0,
    MADV_DONTNEED = 4,
    MADV_REMOVE = 9,
}

/// <summary>MREMAP_* flags.</summary>
[Flags]
public enum MremapFlags
{
    None = 0,
    MREMAP_MAYMOVE = 1,
    MREMAP_FIXED = 2,
    MREMAP_DONTUNMAP = 4,
}
