namespace LazyActors.Engine.Pages;

/// <summary>
/// Where page data comes from, by (pid, dump-time address). Implementations accept many reads in flight at once and may
/// complete them in any order: the local implementation reads the checkpoint's pages files, a remote one will speak the
/// CRIU page-server protocol (<c>RemotePageSource</c>). Reads carry a <see cref="ReadPriority"/>. Thread-safe.
/// </summary>
public interface IPageSource : IDisposable
{
    /// <summary>
    /// Reads <paramref name="pages"/> pages of task <paramref name="pid"/> starting at <paramref name="dumpAddress"/>.
    /// The caller disposes the result once it has copied the data.
    /// </summary>
    /// <param name="pid">Whose pages (a fork child reads its parent's).</param>
    /// <param name="dumpAddress">Dump-time address of the first page.</param>
    /// <param name="pages">Number of pages, at least 1.</param>
    /// <param name="priority">Who waits: a source may serve faults ahead of background reads.</param>
    /// <param name="cancellationToken">Abandons the read.</param>
    /// <exception cref="Images.PageDataUnavailableException">The source does not hold those pages.</exception>
    ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, ReadPriority priority, CancellationToken cancellationToken);

    /// <summary>
    /// True for the shared page cache's view of a checkpoint (<see cref="SharedPageCache"/>): it counts the bytes it reads
    /// from the source below it, so the restore's reads through it are not counted as bytes from the source again.
    /// </summary>
    bool IsCacheLayer => false;

    /// <summary>The shared page cache's counts for this restore alone (<see cref="SharedPageCache"/>'s view of a
    /// checkpoint), or null for a source that is not the cache.</summary>
    PageCacheCounters? CacheCounters => null;

    /// <summary>
    /// The fast path: when the pages can be handed out at once without copying or waiting (a mapping of the images),
    /// returns them; otherwise false and the caller goes through <see cref="ReadAsync"/>. Never blocks, never throws
    /// for missing data.
    /// </summary>
    bool TryReadNow(int pid, ulong dumpAddress, int pages, out PageRead read)
    {
        read = null!;
        return false;
    }
}
