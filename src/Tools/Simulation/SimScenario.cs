namespace LazyActors.Tools.Simulation;

/// <summary>
/// What the first live task does between "restore finished" and touching its memory, so that the daemon sees each
/// non-cooperative userfaultfd event (spec §2.4) on real processes.
/// </summary>
public enum SimScenario
{
    /// <summary>Plain restore: touch and verify.</summary>
    None,

    /// <summary>The task forks (C helper); parent and child each touch and verify their own copy (UFFD_EVENT_FORK).</summary>
    Fork,

    /// <summary>The largest touchable VMA is moved with mremap before touching (UFFD_EVENT_REMAP).</summary>
    Mremap,

    /// <summary>The first half of the largest touchable VMA is madvise(DONTNEED)ed and must read as zeros (UFFD_EVENT_REMOVE).</summary>
    Madvise,

    /// <summary>The second half of the largest touchable VMA is munmapped and not touched (UFFD_EVENT_UNMAP).</summary>
    Munmap,

    /// <summary>The task touches half of its pages and exits while the rest are still missing.</summary>
    Exit,

    /// <summary>
    /// The task touches half of its pages, reports, and is killed (SIGKILL) while the rest are still missing: a task
    /// killed mid-restore. The kernel tells the daemon nothing.
    /// </summary>
    Kill,
}
