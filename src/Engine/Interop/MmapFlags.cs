namespace LazyActors.Engine.Interop;

/// <summary>PROT_* values for mmap/mprotect.</summary>
[Flags]
public enum ProtFlags
{
    /// <summary>Pages may not be accessed.</summary>
    PROT_NONE = 0x0,
    /// <summary>Pages may be read.</summary>
    PROT_READ = 0x1,
    /// <summary>Pages may be written.</summary>
    PROT_WRITE = 0x2,
    /// <summary>Pages may be executed.</summary>
    PROT_EXEC = 0x4,
}

/// <summary>MAP_* values for mmap on x86_64.</summary>
[Flags]
public enum MapFlags
{
    /// <summary>Updates are visible to other mappings of the same object.</summary>
    MAP_SHARED = 0x01,
    /// <summary>Private copy-on-write mapping.</summary>
    MAP_PRIVATE = 0x02,
    /// <summary>Place the mapping exactly at the given address, replacing what is there.</summary>
    MAP_FIXED = 0x10,
    /// <summary>Not backed by a file; contents start zeroed.</summary>
    MAP_ANONYMOUS = 0x20,
    /// <summary>Do not reserve swap space.</summary>
    MAP_NORESERVE = 0x4000,
    /// <summary>Prefault the page tables.</summary>
    MAP_POPULATE = 0x8000,
    /// <summary>Like MAP_FIXED but fails with EEXIST instead of replacing an existing mapping.</summary>
    MAP_FIXED_NOREPLACE = 0x100000,
}

/// <summary>MADV_* advice values.</summary>
public enum MadviseAdvice
{
    /// <summary>No special treatment.</summary>
    MADV_NORMAL = 0,
    /// <summary>Drop the pages: a private anonymous range reads as zeros (or faults again under userfaultfd).</summary>
    MADV_DONTNEED = 4,
    /// <summary>Free the pages and their backing store.</summary>
    MADV_REMOVE = 9,
    /// <summary>Back the range with transparent huge pages where possible.</summary>
    MADV_HUGEPAGE = 14,
    /// <summary>Map the range's pages now, as a read of each page would, without reading them (Linux 5.14+).</summary>
    MADV_POPULATE_READ = 22,
    /// <summary>Fault the range in writable now, as a write into each page would (Linux 5.14+).</summary>
    MADV_POPULATE_WRITE = 23,
}

/// <summary>MREMAP_* flags.</summary>
[Flags]
public enum MremapFlags
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>The kernel may move the mapping.</summary>
    MREMAP_MAYMOVE = 1,
    /// <summary>Move the mapping to the given new address.</summary>
    MREMAP_FIXED = 2,
    /// <summary>Move the pages but leave the old range mapped (and empty).</summary>
    MREMAP_DONTUNMAP = 4,
}
