namespace LazyActors.Engine.Uffd;

/// <summary>UFFDIO_REGISTER_MODE_* bits.</summary>
[Flags]
public enum RegisterMode : ulong
{
    /// <summary>Report faults on missing pages (what lazy restore uses).</summary>
    Missing = 1,

    /// <summary>Report writes to write-protected pages.</summary>
    WriteProtect = 2,

    /// <summary>Report minor faults (page in page cache but not mapped).</summary>
    Minor = 4,
}
