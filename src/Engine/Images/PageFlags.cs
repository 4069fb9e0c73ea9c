namespace LazyActors.Engine.Images;

/// <summary>The PE_* bits of a CRIU pagemap entry (criu/include/pagemap.h).</summary>
[Flags]
public enum PageFlags : uint
{
    /// <summary>No bit set (never written by CRIU 4.x).</summary>
    None = 0,

    /// <summary>PE_PARENT: the data is in the parent image set, not in this pages file.</summary>
    Parent = 1,

    /// <summary>PE_LAZY: the pages may be restored lazily through userfaultfd.</summary>
    Lazy = 2,

    /// <summary>PE_PRESENT: the bytes are in this image set's <c>pages-&lt;id&gt;.img</c>.</summary>
    Present = 4,
}
