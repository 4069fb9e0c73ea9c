namespace LazyActors.Engine.Interop;

/// <summary>UFFD_FEATURE_* bits used in <see cref="UffdioApi.Features"/>.</summary>
public static class UffdFeatures
{
    /// <summary>UFFD_FEATURE_PAGEFAULT_FLAG_WP.</summary>
    public const ulong PagefaultFlagWp = 1UL << 0;

    /// <summary>UFFD_FEATURE_EVENT_FORK.</summary>
    public const ulong EventFork = 1UL << 1;

    /// <summary>UFFD_FEATURE_EVENT_REMAP.</summary>
    public const ulong EventRemap = 1UL << 2;

    /// <summary>UFFD_FEATURE_EVENT_REMOVE.</summary>
    public const ulong EventRemove = 1UL << 3;

    /// <summary>UFFD_FEATURE_MISSING_HUGETLBFS.</summary>
    public const ulong MissingHugetlbfs = 1UL << 4;

    /// <summary>UFFD_FEATURE_MISSING_SHMEM.</summary>
    public const ulong MissingShmem = 1UL << 5;

    /// <summary>UFFD_FEATURE_EVENT_UNMAP.</summary>
    public const ulong EventUnmap = 1UL << 6;

    /// <summary>UFFD_FEATURE_SIGBUS.</summary>
    public const ulong Sigbus = 1UL << 7;

    /// <summary>UFFD_FEATURE_THREAD_ID.</summary>
    public const ulong ThreadId = 1UL << 8;

    /// <summary>The set CRIU requests for lazy restore: FORK | REMAP | REMOVE | UNMAP = 0x4E.</summary>
    public const ulong NonCooperative = EventFork | EventRemap | EventRemove | EventUnmap;

    /// <summary>REMAP, REMOVE and UNMAP: every change of the task's registered memory is reported as an event.</summary>
    public const ulong MemoryChangeEvents = EventRemap | EventRemove | EventUnmap;
}
