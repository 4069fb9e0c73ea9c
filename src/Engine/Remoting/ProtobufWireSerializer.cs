using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using Google.Protobuf;
using LazyActors.Engine.Remoting.Wire;

namespace LazyActors.Engine.Remoting;

/// <summary>
/// The Akka serializer of the transport's messages (<c>protos/remote/page_source.proto</c>), bound to each of them in
/// <c>Remoting/Transport.conf</c>. A <see cref="PageReply"/> is written with its data last and read back without copying
/// the data out of the frame Akka hands over (a <see cref="ByteString"/> over it); the encoding is plain protobuf either way.
/// </summary>
public sealed class ProtobufWireSerializer : SerializerWithStringManifest
{
    /// <summary>The serializer id (Akka reserves 0-40).</summary>
    public const int Id = 7314;

    /// <summary>Every message of page_source.proto by its name (the manifest).</summary>
    private static readonly Dictionary<string, MessageParser> Parsers =
        PageSourceReflection.Descriptor.MessageTypes.ToDictionary(m => m.Name, m => m.Parser, StringComparer.Ordinal);

    private const int DataFieldNumber = PageReply.DataFieldNumber;

    /// <summary>Created by Akka from the configuration.</summary>
    public ProtobufWireSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    /// <inheritdoc />
    public override int Identifier => Id;

    /// <inheritdoc />
    public override string Manifest(object o) =>
        o is IMessage message && Parsers.ContainsKey(message.Descriptor.Name) && message.Descriptor.File == PageSourceReflection.Descriptor ? message.Descriptor.Name : throw Unknown(o);

    /// <inheritdoc />
    public override byte[] ToBinary(object obj) => obj switch
    {
        PageReply reply => WriteReply(reply),
        IMessage message when message.Descriptor.File == PageSourceReflection.Descriptor => message.ToByteArray(),
        _ => throw Unknown(obj),
    };

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (!Parsers.TryGetValue(manifest, out var parser))
        {
            throw new SerializationException($"lazy-actors wire: unknown manifest '{manifest}' ({bytes.Length} bytes)");
        }

        try
        {
            return manifest == nameof(PageReply) ? ReadReply(bytes) : parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new SerializationException($"lazy-actors wire: a malformed '{manifest}' message of {bytes.Length} bytes: {e.Message}", e);
        }
    }

    /// <summary>The header fields, then the data field: one copy of the data, from wherever it lies (a mapping of the pages file).</summary>
    internal static byte[] WriteReply(PageReply reply)
    {
        var header = reply.Clone();
        header.Data = ByteString.Empty;
        int headerSize = header.CalculateSize();
        int dataLength = reply.Data.Length;
        int dataFieldSize = dataLength == 0 ? 0 : CodedOutputStream.ComputeTagSize(DataFieldNumber) + CodedOutputStream.ComputeLengthSize(dataLength) + dataLength;
        var bytes = new byte[headerSize + dataFieldSize];
        var output = new CodedOutputStream(bytes);
        header.WriteTo(output);
        if (dataLength > 0)
        {
            output.WriteTag(DataFieldNumber, WireFormat.WireType.LengthDelimited);
            output.WriteLength(dataLength);
        }

        output.Flush();
        // The stream wrote everything but the data's bytes, which go straight into the rest of the array.
        reply.Data.Span.CopyTo(bytes.AsSpan(bytes.Length - dataLength));
        return bytes;
    }

    /// <summary>
    /// Reads the header fields; the data field, when it is the last thing in the frame (as <see cref="WriteReply"/>
    /// writes it), becomes a <see cref="ByteString"/> over the frame itself. Any other layout is parsed as usual.
    /// </summary>
    internal static PageReply ReadReply(byte[] bytes)
    {
        var input = new CodedInputStream(bytes);
        var reply = new PageReply();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case PageReply.IdFieldNumber when WireFormat.GetTagWireType(tag) == WireFormat.WireType.Varint:
                    reply.Id = input.ReadUInt64();
                    break;
                case PageReply.PidFieldNumber when WireFormat.GetTagWireType(tag) == WireFormat.WireType.Varint:
                    reply.Pid = input.ReadInt32();
                    break;
                case PageReply.VaddrFieldNumber when WireFormat.GetTagWireType(tag) == WireFormat.WireType.Varint:
                    reply.Vaddr = input.ReadUInt64();
                    break;
                case PageReply.PagesFieldNumber when WireFormat.GetTagWireType(tag) == WireFormat.WireType.Varint:
                    reply.Pages = input.ReadUInt32();
                    break;
                case DataFieldNumber when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    int length = input.ReadLength();
                    int start = checked((int)input.Position);
                    if (length < 0 || (long)start + length != bytes.Length)
                    {
                        return PageReply.Parser.ParseFrom(bytes);
                    }

                    reply.Data = UnsafeByteOperations.UnsafeWrap(bytes.AsMemory(start, length));
                    return reply;
                default:
                    return PageReply.Parser.ParseFrom(bytes);
            }
        }

        return reply;
    }

    private static SerializationException Unknown(object o) =>
        new($"lazy-actors wire: {o?.GetType().FullName ?? "null"} is not a message of protos/remote/page_source.proto");
}
