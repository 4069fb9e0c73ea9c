namespace LazyActors.Engine.Images;

/// <summary>
/// One <c>VmaEntry</c> of <c>mm-&lt;pid&gt;.img</c>: [<paramref name="Start"/>, <paramref name="End"/>) at dump time,
/// with its mmap <paramref name="Prot"/>/<paramref name="Flags"/> and CRIU <paramref name="Status"/> bits (<see cref="VmaStatus"/>).
/// </summary>
public readonly record struct Vma(ulong Start, ulong End, ulong Pgoff, ulong Shmid, uint Prot, uint Flags, uint Status)
{
    /// <summary>
    /// CRIU's <c>vma_entry_can_be_lazy</c>: MAP_ANONYMOUS and MAP_PRIVATE, neither MAP_LOCKED nor MAP_HUGETLB,
    /// status not VDSO/VVAR/VSYSCALL; a GUARD pseudo-VMA is never lazy-capable.
    /// </summary>
    public bool IsLazyCapable =>
        (Flags & MapFlags.Anonymous) != 0
        && (Flags & MapFlags.Private) != 0
        && (Flags & (MapFlags.Locked | MapFlags.HugeTlb)) == 0
        && (Status & (VmaStatus.Vdso | VmaStatus.Vvar | VmaStatus.Vsyscall | VmaStatus.Guard)) == 0;

    /// <summary>True for a MADV_GUARD_INSTALL pseudo-VMA (status GUARD).</summary>
    public bool IsGuard => (Status & VmaStatus.Guard) != 0;

    /// <summary>Length in bytes.</summary>
    public ulong Length => End - Start;
}
