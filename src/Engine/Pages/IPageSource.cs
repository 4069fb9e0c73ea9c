namespace LazyActors.Engine.Pages;

/// <summary>
/// Where page data comes from, by (pid, dump-time address). Implementations accept many reads in flight at once and may
/// complete them in any order: the local implementation reads the checkpoint's pages files, a remote one will speak the
/// CRIU page-server protocol. Thread-safe.
/// </summary>
public interface IPageSource : IDisposable
{
    /// <summary>
    /// Reads <paramref name="pages"/> pages of task <paramref name="pid"/> starting at <paramref name="dumpAddress"/>.
    /// The caller disposes the result once it has copied the data.
    /// </summary>
    /// <exception cref="Images.PageDataUnavailableException">The source does not hold those pages.</exception>
    ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, CancellationToken cancellationToken);

    /// <summary>
    /// True for the shared page cache's view of a checkpoint (<see cref="SharedPageCache"/>): it counts the bytes it reads
    /// from the source below it, so the restore's reads through it are not counted as bytes from the source again.
    /// </summary>
    bool IsCacheLayer => false;

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
