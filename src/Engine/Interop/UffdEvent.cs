namespace LazyActors.Engine.Interop;

/// <summary>UFFD_EVENT_* values found in <see cref="UffdMsg.Event"/>.</summary>
public enum UffdEvent : byte
{
    /// <summary>A missing (or write-protected) page was touched.</summary>
    Pagefault = 0x12,

    /// <summary>The process forked; <see cref="UffdMsg.ForkUfd"/> is a new uffd installed in the reader's fd table.</summary>
    Fork = 0x13,

    /// <summary>A registered range was moved by mremap.</summary>
    Remap = 0x14,

    /// <summary>madvise(DONTNEED/REMOVE) dropped pages of a registered range.</summary>
    Remove = 0x15,

    /// <summary>A registered range was unmapped.</summary>
    Unmap = 0x16,
}
