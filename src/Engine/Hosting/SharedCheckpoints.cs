using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Pages;

namespace LazyActors.Engine.Hosting;

/// <summary>
/// The checkpoints the restores of one process read, opened once per identity (<see cref="CheckpointIdentity"/>) and
/// shared: restores of the same local images map its pages files once (the kernel reads each page from disk once and
/// every restore copies from the same mapping), and with a <see cref="SharedPageCache"/> their reads go through it.
/// A checkpoint is closed when the last restore reading it lets go. Thread-safe.
/// </summary>
public sealed class SharedCheckpoints : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _open = new(StringComparer.Ordinal);

    /// <summary>Shares checkpoints; with <paramref name="cache"/>, restores of local images read through it when
    /// <paramref name="cacheLocalImages"/> (see <see cref="SharedPageCache"/> for why that is off by default).</summary>
    public SharedCheckpoints(SharedPageCache? cache = null, bool cacheLocalImages = false)
    {
        Cache = cache;
        CacheLocalImages = cacheLocalImages && cache is not null;
    }

    /// <summary>The page cache, if any.</summary>
    public SharedPageCache? Cache { get; }

    /// <summary>True when restores of local images read through <see cref="Cache"/>.</summary>
    public bool CacheLocalImages { get; }

    /// <summary>Checkpoints open now.</summary>
    public int OpenCount
    {
        get
        {
            lock (_gate)
            {
                return _open.Count;
            }
        }
    }

    /// <summary>
    /// The source of one restore of the local images in <see cref="EngineSettings.ImagesDirectory"/>: the shared
    /// checkpoint, and a page source of this restore's own (its buffer pools) over the shared mapping, or through the
    /// cache. Dispose it when the restore ended.
    /// </summary>
    /// <exception cref="ImageFormatException">The images are unreadable (the message names the file).</exception>
    /// <exception cref="DirectoryNotFoundException">The images directory does not exist.</exception>
    public RestoreSource AcquireLocal(EngineSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var identity = CheckpointIdentity.OfLocal(settings.ImagesDirectory);
        var entry = Hold(identity);
        try
        {
            if (CacheLocalImages)
            {
                // The cache's source holds the checkpoint too: it may still read after this restore ended.
                var pages = Cache!.Attach(identity.Key, () => new PooledLocalSource(HoldAgain(entry), settings, () => Release(entry)));
                return new RestoreSource(entry.Checkpoint, pages, () => Release(entry));
            }

            var local = RestoreSource.LocalPages(entry.Checkpoint, settings, out var pools);
            return new RestoreSource(entry.Checkpoint, local, () =>
            {
                pools.Dispose();
                Release(entry);
            });
        }
        catch
        {
            Release(entry);
            throw;
        }
    }

    /// <summary>
    /// The source of one restore of the checkpoint in <see cref="EngineSettings.ImagesDirectory"/> whose lazy pages come
    /// from the page server <paramref name="pageServer"/>. With a <see cref="Cache"/>, the restores of one such checkpoint
    /// (<see cref="CheckpointIdentity.OfRemote"/>) read through it, over one session that <paramref name="openShared"/>
    /// opens for the first of them (the pages the source sends once serve them all); without, the restore has a session
    /// of its own (<see cref="RestoreSource.OpenRemote(EngineSettings, Protocol.Client.PageServerEndpoint)"/>). Dispose it
    /// when the restore ended.
    /// </summary>
    /// <exception cref="ImageFormatException">The images are unreadable (the message names the file).</exception>
    /// <exception cref="DirectoryNotFoundException">The images directory does not exist.</exception>
    public RestoreSource AcquireRemote(EngineSettings settings, CheckpointIdentity identity, Protocol.Client.PageServerEndpoint pageServer,
        Func<Checkpoint, SharedRemoteSource> openShared)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(pageServer);
        ArgumentNullException.ThrowIfNull(openShared);
        if (Cache is null)
        {
            return RestoreSource.OpenRemote(settings, pageServer);
        }

        var entry = Hold(CheckpointIdentity.OfLocal(settings.ImagesDirectory));
        try
        {
            var pages = Cache.Attach(identity.Key, () => openShared(entry.Checkpoint), out var shared);
            return new RestoreSource(entry.Checkpoint, pages, () => Release(entry))
            {
                Remote = new Actors.RestoreSupervisor.RemoteSource(shared.Endpoint, shared.Probe, shared.Pages) { Shared = shared.Fetcher },
            };
        }
        catch
        {
            Release(entry);
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var entry in _open.Values)
            {
                entry.Checkpoint.Dispose();
            }

            _open.Clear();
        }
    }

    private Entry Hold(CheckpointIdentity identity)
    {
        lock (_gate)
        {
            if (_open.TryGetValue(identity.Key, out var entry))
            {
                entry.Holders++;
                return entry;
            }
        }

        // Opened outside the lock (it reads every image but the pages); a second opener of the same identity that lost
        // the race closes its copy.
        var checkpoint = Checkpoint.Open(identity.Display);
        lock (_gate)
        {
            if (_open.TryGetValue(identity.Key, out var entry))
            {
                entry.Holders++;
                checkpoint.Dispose();
                return entry;
            }

            _open[identity.Key] = entry = new Entry(identity.Key, checkpoint) { Holders = 1 };
            return entry;
        }
    }

    private Checkpoint HoldAgain(Entry entry)
    {
        lock (_gate)
        {
            entry.Holders++;
            return entry.Checkpoint;
        }
    }

    private void Release(Entry entry)
    {
        lock (_gate)
        {
            if (--entry.Holders > 0 || !_open.Remove(entry.Key))
            {
                return;
            }
        }

        entry.Checkpoint.Dispose();
    }

    private sealed class Entry(string key, Checkpoint checkpoint)
    {
        public string Key { get; } = key;

        public Checkpoint Checkpoint { get; } = checkpoint;

        public int Holders { get; set; }
    }

    /// <summary>The cache's source over a shared local checkpoint: its own buffer pools, freed with it.</summary>
    private sealed class PooledLocalSource : IPageSource
    {
        private readonly IPageSource _inner;
        private readonly IDisposable _pools;
        private readonly Action _release;

        public PooledLocalSource(Checkpoint checkpoint, EngineSettings settings, Action release)
        {
            _inner = RestoreSource.LocalPages(checkpoint, settings, out _pools);
            _release = release;
        }

        public ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, ReadPriority priority, CancellationToken cancellationToken) =>
            _inner.ReadAsync(pid, dumpAddress, pages, priority, cancellationToken);

        public void Dispose()
        {
            _inner.Dispose();
            _pools.Dispose();
            _release();
        }
    }
}
