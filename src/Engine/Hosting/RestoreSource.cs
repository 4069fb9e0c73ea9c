using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Pages;

namespace LazyActors.Engine.Hosting;

/// <summary>
/// What one restore reads: the checkpoint's model (pstree, lazy ranges per pid) and the page source of its pages.
/// Disposing it releases what this restore held: its own buffers and source, and its hold on a checkpoint that other
/// restores may share (<see cref="SharedCheckpoints"/>), which stays open until the last of them lets go.
/// </summary>
public sealed class RestoreSource : IDisposable
{
    private readonly Action? _release;
    private int _disposed;

    /// <summary>Wraps a checkpoint and its page source; <paramref name="release"/> runs once on <see cref="Dispose"/>.</summary>
    public RestoreSource(Checkpoint checkpoint, IPageSource pages, Action? release)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(pages);
        Checkpoint = checkpoint;
        Pages = pages;
        _release = release;
    }

    /// <summary>The page server the pages come from and how the restore reaches it, or null for local images.</summary>
    public Actors.RestoreSupervisor.RemoteSource? Remote { get; init; }

    /// <summary>The opened images.</summary>
    public Checkpoint Checkpoint { get; }

    /// <summary>Where page data comes from (thread-safe, many reads in flight).</summary>
    public IPageSource Pages { get; }

    /// <summary>
    /// Opens <see cref="EngineSettings.ImagesDirectory"/> for one restore of its own: the checkpoint, and a page source
    /// over its pages files with two buffer pools (faults and background reads never compete for buffers). Everything is
    /// released on <see cref="Dispose"/>. This is what the one-shot <see cref="LazyPagesEngine"/> reads.
    /// </summary>
    /// <exception cref="ImageFormatException">The images are unreadable (the message names the file).</exception>
    public static RestoreSource OpenLocal(EngineSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return OpenLocal(settings, Checkpoint.Open(settings.ImagesDirectory));
    }

    /// <summary>As <see cref="OpenLocal(EngineSettings)"/> over a checkpoint already opened (and checked) by the caller;
    /// the source owns it from here on.</summary>
    public static RestoreSource OpenLocal(EngineSettings settings, Checkpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(checkpoint);
        return new RestoreSource(checkpoint, LocalPages(checkpoint, settings, out var pools), () =>
        {
            pools.Dispose();
            checkpoint.Dispose();
        });
    }

    /// <summary>
    /// Opens <see cref="EngineSettings.ImagesDirectory"/> (images without page data, as <c>criu dump --lazy-pages</c>
    /// leaves them) for one restore whose lazy pages come from the page server <paramref name="pageServer"/>
    /// (<c>criu lazy-pages --page-server</c>); the restore's supervisor connects to it.
    /// </summary>
    /// <exception cref="ImageFormatException">The images are unreadable (the message names the file).</exception>
    public static RestoreSource OpenRemote(EngineSettings settings, Protocol.Client.PageServerEndpoint pageServer)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(pageServer);
        return OpenRemote(settings, pageServer, Checkpoint.Open(settings.ImagesDirectory));
    }

    /// <summary>As <see cref="OpenRemote(EngineSettings, Protocol.Client.PageServerEndpoint)"/> over a checkpoint already
    /// opened (and checked) by the caller; the source owns it from here on.</summary>
    public static RestoreSource OpenRemote(EngineSettings settings, Protocol.Client.PageServerEndpoint pageServer, Checkpoint checkpoint) =>
        OpenRemote(settings, pageServer, checkpoint, earlyLinks: null);

    /// <summary>As above, with connections to the page server opened before the restore began (the fetcher takes them
    /// instead of connecting; they are closed with the source if no fetcher did).</summary>
    internal static RestoreSource OpenRemote(EngineSettings settings, Protocol.Client.PageServerEndpoint pageServer, Checkpoint checkpoint, Task<Actors.Remote.SourceLinks>? earlyLinks)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(pageServer);
        ArgumentNullException.ThrowIfNull(checkpoint);
        try
        {
            var remote = new Actors.Remote.RemotePageSource(settings) { EarlyLinks = earlyLinks };
            return new RestoreSource(checkpoint, remote, checkpoint.Dispose)
            {
                Remote = new Actors.RestoreSupervisor.RemoteSource(pageServer, Actors.Remote.ProbePage.Of(checkpoint), remote),
            };
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One restore over the Akka transport: <paramref name="checkpoint"/> is the model the source described
    /// (<see cref="Remoting.AkkaTransport.DescribeCheckpointAsync"/>), the pages come from its page source actor at
    /// <paramref name="sourcePath"/> through an <see cref="Actors.Remote.AkkaFetchActor"/>, or through the fetcher
    /// <paramref name="fetcher"/> makes (a cluster restore's).
    /// </summary>
    public static RestoreSource OpenAkka(EngineSettings settings, Akka.Actor.ActorPath sourcePath, Checkpoint checkpoint,
        Func<Actors.Remote.RemotePageSource, Actors.Remote.RemoteStatistics, Akka.Actor.Props>? fetcher = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(sourcePath);
        ArgumentNullException.ThrowIfNull(checkpoint);
        try
        {
            var remote = new Actors.Remote.RemotePageSource(settings);
            var display = Protocol.Client.PageServerEndpoint.Tcp(sourcePath.Address.Host!, sourcePath.Address.Port ?? 0);
            return new RestoreSource(checkpoint, remote, checkpoint.Dispose)
            {
                Remote = new Actors.RestoreSupervisor.RemoteSource(display, Actors.Remote.ProbePage.Of(checkpoint), remote)
                {
                    Fetcher = fetcher ?? ((source, statistics) => Actors.Remote.AkkaFetchActor.Props(sourcePath, settings.Remote, source, statistics)),
                },
            };
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The page source of one restore over an opened <paramref name="checkpoint"/>: zero-copy from the mapping of its
    /// pages files, buffered reads through a fault pool and a background pool of this restore's own.
    /// </summary>
    public static IPageSource LocalPages(Checkpoint checkpoint, EngineSettings settings, out IDisposable pools)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var faultPool = new PinnedBufferPool(settings.FaultBufferBytes, settings.FaultBuffers);
        var bulkPool = new PinnedBufferPool(settings.BulkBufferBytes, settings.BulkBuffers);
        pools = new PoolPair(faultPool, bulkPool);
        // With pread the copies do not read the mapping: populating it would fault in the very pages they pread.
        var mapped = new MappedPagesUse(settings.MappedPagesPopulate && settings.LocalBulkRead == LocalBulkRead.Mapped, settings.MappedPagesRelease);
        return new SizedPageSource(new LocalPageSource(checkpoint, faultPool, mapped: mapped), new LocalPageSource(checkpoint, bulkPool, mapped: mapped), settings.FaultBufferBytes);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Pages.Dispose();
        _release?.Invoke();
    }

    private sealed class PoolPair(PinnedBufferPool fault, PinnedBufferPool bulk) : IDisposable
    {
        public void Dispose()
        {
            fault.Dispose();
            bulk.Dispose();
        }
    }
}
