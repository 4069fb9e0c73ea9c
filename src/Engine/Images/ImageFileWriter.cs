using System.Buffers.Binary;
using Google.Protobuf;

namespace LazyActors.Engine.Images;

/// <summary>Streams a CRIU protobuf image: header magic words, then <c>u32 LE length</c> + payload per entry.</summary>
public sealed class ImageFileWriter : IDisposable
{
    private readonly Stream _stream;

    /// <summary>Creates (or truncates) <paramref name="path"/> and writes <paramref name="header"/>.</summary>
    public ImageFileWriter(string path, IReadOnlyList<uint> header)
    {
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 64 * 1024);
        Span<byte> word = stackalloc byte[4];
        foreach (uint magic in header)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(word, magic);
            _stream.Write(word);
        }
    }

    /// <summary>Creates an image with the header CRIU uses for <paramref name="magic"/> at <paramref name="imgVersion"/>.</summary>
    public static ImageFileWriter Create(string path, uint magic, uint imgVersion = ImageMagic.ImgVersionV1_1) =>
        new(path, ImageFile.HeaderFor(magic, imgVersion));

    /// <summary>Appends a length-prefixed entry with a raw protobuf payload.</summary>
    public void WriteEntry(ReadOnlySpan<byte> payload)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)payload.Length);
        _stream.Write(length);
        _stream.Write(payload);
    }

    /// <summary>Appends a length-prefixed entry; fields are written in field-number order, as protobuf-c does.</summary>
    public void WriteEntry(IMessage message) => WriteEntry(message.ToByteArray());

    /// <inheritdoc />
    public void Dispose() => _stream.Dispose();
}
