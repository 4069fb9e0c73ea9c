using LazyActors.Engine.Ranges;

namespace LazyActors.Tools.Synthetic;

/// <summary>
/// One buffer (one VMA) of a synthetic task. <paramref name="Layout"/> has one letter per page: 'P' pattern,
/// 'Z' dumped zeros, '.' never dumped. <paramref name="Lazy"/> tells whether the VMA is lazy-capable.
/// </summary>
public sealed record SyntheticBuffer(int Index, ulong Address, string Layout, bool Lazy)
{
    /// <summary>Pages in the buffer.</summary>
    public int Pages => Layout.Length;

    /// <summary>Exclusive end address.</summary>
    public ulong End => Address + (ulong)Layout.Length * PageGeometry.PageSize;
}
