namespace LazyActors.Engine.Pages;

/// <summary>
/// The result of one <see cref="IPageSource.ReadAsync"/>: the requested pages as one or more segments sorted by dump
/// address and covering the request exactly, plus whatever keeps them readable (a pooled buffer, or nothing for a
/// zero-copy mapping). Dispose it once the data has been copied.
/// </summary>
public sealed class PageRead : IDisposable
{
    private Action? _release;

    /// <summary>Wraps segments; <paramref name="release"/> runs once on <see cref="Dispose"/>.</summary>
    public PageRead(IReadOnlyList<PageSegment> segments, Action? release)
    {
        Segments = segments;
        _release = release;
    }

    /// <summary>The data, sorted by dump address, without gaps.</summary>
    public IReadOnlyList<PageSegment> Segments { get; }

    /// <summary>True when every segment points into a mapping of the images (no bytes were copied to read it).</summary>
    public bool IsZeroCopy { get; init; }

    /// <inheritdoc />
    public void Dispose() => Interlocked.Exchange(ref _release, null)?.Invoke();
}
