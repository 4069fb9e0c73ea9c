namespace LazyActors.Engine.Pages;

/// <summary>
/// Pinned, page-aligned native buffers rented by size, up to <see cref="MaxBufferBytes"/>: what a remote page source
/// receives replies into (<see cref="SizeClassBufferPool"/>, <see cref="ArenaBufferPool"/>, or one size for every
/// rent: <see cref="PinnedBufferPool"/>).
/// </summary>
public interface ISizedBufferPool : IDisposable
{
    /// <summary>The largest buffer that can be rented.</summary>
    int MaxBufferBytes { get; }

    /// <summary>Rents a buffer of at least <paramref name="bytes"/>, waiting while none is free.</summary>
    ValueTask<nint> RentAsync(int bytes, CancellationToken cancellationToken);

    /// <summary>Gives back a buffer rented for <paramref name="bytes"/>.</summary>
    void Return(nint buffer, int bytes);
}
