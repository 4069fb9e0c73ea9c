namespace LazyActors.Engine.Images;

/// <summary>
/// Every pages file this process has mapped (<see cref="PagesFileMapping"/>), by address: a copier handed a pointer into
/// such a mapping (a zero-copy <see cref="Pages.PageSegment"/>) finds the file and offset behind it, and may read the
/// bytes with pread(2) into a buffer of its own instead of copying from the mapping (<c>local-bulk-read = pread</c>, see
/// <see cref="Uffd.PagesFileStaging"/>). Lookups take no lock (a snapshot array; a process maps a few files per task).
/// </summary>
internal static class MappedPagesFiles
{
    private static readonly Lock Gate = new();
    private static PagesFileMapping[] s_mappings = [];

    /// <summary>Registers a new mapping.</summary>
    public static void Add(PagesFileMapping mapping)
    {
        lock (Gate)
        {
            s_mappings = [.. s_mappings, mapping];
        }
    }

    /// <summary>Forgets a mapping before it is unmapped.</summary>
    public static void Remove(PagesFileMapping mapping)
    {
        lock (Gate)
        {
            s_mappings = [.. s_mappings.Where(m => !ReferenceEquals(m, mapping))];
        }
    }

    /// <summary>
    /// The mapping holding [<paramref name="address"/>, +<paramref name="length"/>) whole, and the file offset of
    /// <paramref name="address"/>; false when no registered mapping does (a pooled buffer, a remote receive buffer).
    /// </summary>
    public static bool TryFind(nint address, ulong length, out PagesFileMapping mapping, out long offset)
    {
        foreach (var candidate in Volatile.Read(ref s_mappings))
        {
            if (candidate.TryOffsetOf(address, length, out offset))
            {
                mapping = candidate;
                return true;
            }
        }

        mapping = null!;
        offset = 0;
        return false;
    }
}
