using Akka.Actor;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Actors.Remote;

/// <summary>
/// <see cref="IPageSource"/> of a remote restore: each read gets a pinned buffer (faults from their own pool, so
/// background reads can never take the buffers a fault needs; background reads a buffer of their own size within the
/// bulk budget, so many small chunks can be in flight) and goes to the <see cref="RemoteFetchActor"/> bound to it, which receives the source's replies straight into that buffer; the result points into it (no copy) and gives it
/// back when disposed. The restore supervisor creates the actor and binds it.
/// </summary>
public sealed class RemotePageSource : IPageSource
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(15);

    private readonly ISizedBufferPool _faultPool;
    private readonly int _faultBufferBytes;
    private readonly ISizedBufferPool _bulkPool;
    private IActorRef _fetcher = ActorRefs.Nobody;
    private Task? _drained;
    private Task<SourceLinks>? _earlyLinks;
    private int _disposed;

    /// <summary>
    /// A source whose buffers follow <paramref name="settings"/>: fault buffers as configured; background buffers up to
    /// bulk-buffer-size, at most bulk-buffers × bulk-buffer-size bytes of them at once (huge pages when
    /// <c>remote.huge-page-buffers</c> is on).
    /// </summary>
    public RemotePageSource(EngineSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _faultBufferBytes = settings.FaultBufferBytes;
        var bulkBytes = (long)settings.BulkBufferBytes * settings.BulkBuffers;
        if (settings.Remote.ReceiveArena)
        {
            // A fault's read-ahead (up to fault-read-ahead-max) gets a block of the fault arena too, where one pool of
            // fault-buffer-size buffers gives a bigger read a fresh allocation (which faults as the reply comes in).
            var faultBytes = (long)settings.FaultBufferBytes * settings.FaultBuffers;
            _faultBufferBytes = (int)Math.Min(faultBytes, Math.Max(settings.FaultBufferBytes, settings.FaultReadAheadMaxBytes));
            var faultArena = new ArenaBufferPool(_faultBufferBytes, faultBytes, settings.Remote.HugePageBuffers);
            var bulkArena = new ArenaBufferPool(settings.BulkBufferBytes, bulkBytes, settings.Remote.HugePageBuffers);
            _faultPool = faultArena;
            _bulkPool = bulkArena;

            // The source is opened before the restorer connects: the pages are written meanwhile, off the hot path.
            Populated = Task.Run(() => faultArena.Populate() & bulkArena.Populate());
        }
        else
        {
            _faultPool = new PinnedBufferPool(settings.FaultBufferBytes, settings.FaultBuffers);
            _bulkPool = new SizeClassBufferPool(settings.BulkBufferBytes, bulkBytes, settings.Remote.HugePageBuffers);
        }
    }

    /// <summary>
    /// With <c>remote.receive-arena</c>: ends once both arenas' pages are written (false where the kernel refused; they
    /// then fault on first use). Completed (true) without it.
    /// </summary>
    public Task<bool> Populated { get; } = Task.FromResult(true);

    /// <summary>True once the fetcher is bound.</summary>
    public bool IsBound => !_fetcher.IsNobody();

    /// <summary>Binds the fetcher that serves the reads (once, before the first read).</summary>
    /// <exception cref="InvalidOperationException">Already bound.</exception>
    public void Bind(IActorRef fetcher)
    {
        ArgumentNullException.ThrowIfNull(fetcher);
        if (IsBound)
        {
            throw new InvalidOperationException("the remote page source is already bound to a fetcher");
        }

        _fetcher = fetcher;
    }

    /// <inheritdoc />
    public async ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, ReadPriority priority, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pages, 1);
        if (!IsBound || Volatile.Read(ref _drained) is not null)
        {
            throw new PageServerException("remote page source", _drained is null ? "no fetcher is bound" : "the remote fetcher stopped");
        }

        var bytes = (long)pages << PageGeometry.PageShift;
        nint buffer;
        Action release;
        if (priority == ReadPriority.Fault && bytes <= _faultBufferBytes)
        {
            buffer = await _faultPool.RentAsync((int)bytes, cancellationToken).ConfigureAwait(false);
            release = () => _faultPool.Return(buffer, (int)bytes);
        }
        else if (priority == ReadPriority.Background && bytes <= _bulkPool.MaxBufferBytes)
        {
            buffer = await _bulkPool.RentAsync((int)bytes, cancellationToken).ConfigureAwait(false);
            release = () => _bulkPool.Return(buffer, (int)bytes);
        }
        else
        {
            buffer = Allocate(bytes);
            release = () => Free(buffer);
        }

        var read = new RemoteRead(pid, dumpAddress, pages, priority, buffer);
        _fetcher.Tell(new RemoteFetchActor.Read(read));
        try
        {
            // Not cancellable here: the fetcher owns the buffer until it completes or fails the read.
            await read.Completion.Task.ConfigureAwait(false);
        }
        catch
        {
            release();
            throw;
        }

        return new PageRead([new PageSegment(dumpAddress, pages, buffer)], release);
    }

    /// <summary>Called by the fetcher as it stops: <paramref name="drained"/> ends once no reply can be written any more.</summary>
    internal void OnFetcherStopped(Task drained) => Volatile.Write(ref _drained, drained);

    /// <summary>
    /// Connections opened before the restore began (the daemon connects while it opens the checkpoint and binds its
    /// socket); the fetcher's first instance takes them instead of connecting itself. Null when there are none.
    /// </summary>
    internal Task<SourceLinks>? EarlyLinks
    {
        get => Volatile.Read(ref _earlyLinks);
        init => _earlyLinks = value;
    }

    /// <summary>The early connections, once: the first caller owns them.</summary>
    internal bool TryTakeEarlyLinks([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Task<SourceLinks>? links)
    {
        links = Interlocked.Exchange(ref _earlyLinks, null);
        return links is not null;
    }

    /// <summary>What a fetcher that is being restarted leaves to its next instance (see <see cref="RemoteFetchActor"/>).</summary>
    internal RemoteFetchActor.Handover? Handover { get; set; }

    /// <summary>Waits (bounded) until the fetcher's connections are closed, then frees the buffers.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (TryTakeEarlyLinks(out var unused))
        {
            // No fetcher took them (the restore ended first): close them in the background, nothing reads into our buffers.
            _ = SourceConnector.DisposeAsync(unused);
        }

        // Dispose is synchronous and the buffers may only be freed once no reader can write into them; the wait is bounded and no synchronization context is involved.
#pragma warning disable VSTHRD002
        if (Volatile.Read(ref _drained) is { } drained && !Task.WhenAny(drained, Task.Delay(DrainTimeout)).GetAwaiter().GetResult().Equals(drained))
#pragma warning restore VSTHRD002
        {
            // A reader still running could write into a freed buffer: keep them (a leak at exit beats a corruption).
            return;
        }

        _faultPool.Dispose();
        _bulkPool.Dispose();
    }

    private static unsafe nint Allocate(long bytes) => (nint)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)bytes, (nuint)PageGeometry.PageSize);

    private static unsafe void Free(nint buffer) => System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)buffer);
}
