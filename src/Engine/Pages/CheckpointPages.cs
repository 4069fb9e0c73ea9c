namespace LazyActors.Engine.Pages;

/// <summary>
/// The <see cref="SharedPageCache"/>'s pages of one checkpoint (by identity): the pieces per pid, sorted and disjoint,
/// the restores attached to it and the source they read through. Guarded by the cache's lock.
/// </summary>
internal sealed class CheckpointPages(string identity)
{
    public string Identity { get; } = identity;

    /// <summary>Pieces per pid, keyed by dump address; never overlapping.</summary>
    public Dictionary<int, SortedList<ulong, CachedPiece>> Pieces { get; } = [];

    /// <summary>Ids of the restores attached now.</summary>
    public HashSet<int> Consumers { get; } = [];

    /// <summary>The source misses are read from, opened when the first restore attaches and disposed once the last one
    /// left and no read on it is in flight (it may hold that checkpoint's mappings). Pieces outlive it: they are copies.</summary>
    public IPageSource? Source { get; set; }

    /// <summary>Reads on <see cref="Source"/> in flight.</summary>
    public int Loads { get; set; }
}
