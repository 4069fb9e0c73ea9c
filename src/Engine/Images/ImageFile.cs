using System.Buffers.Binary;
using Google.Protobuf;

namespace LazyActors.Engine.Images;

/// <summary>
/// CRIU image framing (criu/image.c, criu/protobuf.c): header magic word(s), then entries of
/// <c>u32 length (LE)</c> + <c>length</c> bytes of protobuf until EOF. Raw <c>pages-*.img</c> files have no framing.
/// </summary>
public static class ImageFile
{
    /// <summary>Upper bound of one entry; CRIU's own records are far smaller, so anything larger is corruption.</summary>
    public const int MaxEntryLength = 256 << 20;

    /// <summary>
    /// The header words CRIU writes for an image with per-image <paramref name="magic"/> in an image set of
    /// <paramref name="imgVersion"/>: inventory has only its magic; v2 adds the common (or service) magic; v1 has none.
    /// </summary>
    public static uint[] HeaderFor(uint magic, uint imgVersion)
    {
        if (magic == ImageMagic.Inventory || imgVersion == ImageMagic.ImgVersionV1)
        {
            return [magic];
        }

        return magic == ImageMagic.Stats ? [ImageMagic.Service, magic] : [ImageMagic.Common, magic];
    }

    /// <summary>Reads <c>inventory.img</c> (only the inventory magic, no common magic).</summary>
    public static RawImage ReadInventory(string path) => Read(path, HeaderFor(ImageMagic.Inventory, ImageMagic.ImgVersionV1_1));

    /// <summary>Reads a protobuf image with per-image <paramref name="magic"/> from an image set of <paramref name="imgVersion"/>.</summary>
    public static RawImage Read(string path, uint magic, uint imgVersion) => Read(path, HeaderFor(magic, imgVersion));

    /// <summary>Reads a protobuf image whose header must be exactly <paramref name="expectedHeader"/>.</summary>
    /// <remarks>The file must be a regular file reached without a symbolic link, at most
    /// <see cref="ImageFileAccess.MaxBytesFor"/> its magic long (see <see cref="ImageFileAccess"/>).</remarks>
    public static RawImage Read(string path, IReadOnlyList<uint> expectedHeader)
    {
        ArgumentNullException.ThrowIfNull(expectedHeader);
        var magic = expectedHeader.Count > 0 ? expectedHeader[^1] : ImageMagic.Raw;
        return Parse(path, ImageFileAccess.ReadAll(path, ImageFileAccess.MaxBytesFor(magic)), expectedHeader);
    }

    /// <summary>Splits <paramref name="bytes"/> (the content of <paramref name="path"/>) into header and entries.</summary>
    public static RawImage Parse(string path, ReadOnlySpan<byte> bytes, IReadOnlyList<uint> expectedHeader)
    {
        int headerBytes = expectedHeader.Count * 4;
        if (bytes.Length < headerBytes)
        {
            throw new ImageFormatException(path, $"file is {bytes.Length} bytes, too short for its {headerBytes}-byte magic header");
        }

        for (int i = 0; i < expectedHeader.Count; i++)
        {
            uint actual = BinaryPrimitives.ReadUInt32LittleEndian(bytes[(i * 4)..]);
            if (actual != expectedHeader[i])
            {
                throw new ImageFormatException(path, $"bad magic 0x{actual:x8} at offset {i * 4}, expected 0x{expectedHeader[i]:x8}");
            }
        }

        var entries = new List<byte[]>();
        int offset = headerBytes;
        while (offset < bytes.Length)
        {
            if (bytes.Length - offset < 4)
            {
                throw new ImageFormatException(path, $"truncated length prefix at offset {offset}: {bytes.Length - offset} byte(s) left, 4 needed");
            }

            uint length = BinaryPrimitives.ReadUInt32LittleEndian(bytes[offset..]);
            offset += 4;
            if (length > MaxEntryLength)
            {
                throw new ImageFormatException(path, $"entry {entries.Count} at offset {offset - 4} claims {length} bytes, more than the {MaxEntryLength}-byte limit");
            }

            if ((uint)(bytes.Length - offset) < length)
            {
                throw new ImageFormatException(path, $"truncated entry {entries.Count} at offset {offset - 4}: needs {length} bytes, {bytes.Length - offset} left");
            }

            entries.Add(bytes.Slice(offset, (int)length).ToArray());
            offset += (int)length;
        }

        return new RawImage(path, expectedHeader.ToArray(), entries);
    }

    /// <summary>Decodes entry <paramref name="index"/> of <paramref name="image"/>, naming the file on failure.</summary>
    public static T ParseEntry<T>(RawImage image, int index, MessageParser<T> parser)
        where T : IMessage<T>
    {
        if (index >= image.Entries.Count)
        {
            throw new ImageFormatException(image.Path, $"expected at least {index + 1} entries, found {image.Entries.Count}");
        }

        try
        {
            var message = parser.ParseFrom(image.Entries[index]);
            if (!message.IsInitialized())
            {
                throw new ImageFormatException(image.Path, $"bad protobuf in entry {index} ({typeof(T).Name}): a required field is missing");
            }

            return message;
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new ImageFormatException(image.Path, $"bad protobuf in entry {index} ({typeof(T).Name}): {ex.Message}", ex);
        }
    }

    /// <summary>Decodes every entry of <paramref name="image"/> as <typeparamref name="T"/>.</summary>
    public static List<T> ParseAll<T>(RawImage image, MessageParser<T> parser)
        where T : IMessage<T>
    {
        var result = new List<T>(image.Entries.Count);
        for (int i = 0; i < image.Entries.Count; i++)
        {
            result.Add(ParseEntry(image, i, parser));
        }

        return result;
    }

    /// <summary>Writes <paramref name="image"/> (header and entries) to <paramref name="path"/>.</summary>
    public static void Write(string path, RawImage image)
    {
        using var writer = new ImageFileWriter(path, image.Header);
        foreach (var entry in image.Entries)
        {
            writer.WriteEntry(entry);
        }
    }
}
