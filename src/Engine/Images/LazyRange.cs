using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Images;

/// <summary>A half-open range [<paramref name="Start"/>, <paramref name="End"/>) of dump-time addresses, page aligned.</summary>
public readonly record struct LazyRange(ulong Start, ulong End)
{
    /// <summary>Number of 4 KiB pages.</summary>
    public ulong Pages => PageGeometry.PagesIn(End - Start);
}
