namespace LazyActors.Engine.Images;

/// <summary>
/// A protobuf image file split into its framing: the header magic words and the raw payload of every
/// length-prefixed entry. Payloads are kept byte-exact so writers can re-emit them unchanged.
/// </summary>
public sealed class RawImage
{
    /// <summary>Creates a raw image.</summary>
    public RawImage(string path, IReadOnlyList<uint> header, IReadOnlyList<byte[]> entries)
    {
        Path = path;
        Header = header;
        Entries = entries;
    }

    /// <summary>The file the image was read from (or will be written to).</summary>
    public string Path { get; }

    /// <summary>The leading magic words, e.g. [Common, Pagemap], or [Inventory].</summary>
    public IReadOnlyList<uint> Header { get; }

    /// <summary>The protobuf payload of each entry, in file order.</summary>
    public IReadOnlyList<byte[]> Entries { get; }
}
