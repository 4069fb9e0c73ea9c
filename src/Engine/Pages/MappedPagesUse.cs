namespace LazyActors.Engine.Pages;

/// <summary>
/// How <see cref="LocalPageSource"/> treats the mapping of the pages files around a big zero-copy read
/// (<c>mapped-pages-populate</c>, <c>mapped-pages-release</c>).
/// </summary>
/// <param name="Populate">Map the read's pages with MADV_POPULATE_READ before the copy reads them.</param>
/// <param name="Release">Give the pages back with MADV_DONTNEED once copied (the daemon's RSS stays small).</param>
public sealed record MappedPagesUse(bool Populate, bool Release)
{
    /// <summary>The defaults: faulted in by the copy, released after it.</summary>
    public static MappedPagesUse Default { get; } = new(Populate: false, Release: true);
}
