using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using Google.Protobuf;
using LazyActors.Engine.Remoting.Cluster.Wire;

namespace LazyActors.Engine.Remoting.Cluster;

/// <summary>
/// The Akka serializer of the cluster registry's messages (<c>protos/remote/cluster.proto</c>), bound to each of them in
/// <c>Remoting/Cluster/Cluster.conf</c>: plain protobuf, the message's name as the manifest.
/// </summary>
public sealed class ClusterWireSerializer : SerializerWithStringManifest
{
    /// <summary>The serializer id (after the transport's two).</summary>
    public const int Id = ProtobufWireSerializer.Id + 2;

    private static readonly Dictionary<string, MessageParser> Parsers =
        ClusterReflection.Descriptor.MessageTypes.ToDictionary(m => m.Name, m => m.Parser, StringComparer.Ordinal);

    /// <summary>Created by Akka from the configuration.</summary>
    public ClusterWireSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    /// <inheritdoc />
    public override int Identifier => Id;

    /// <inheritdoc />
    public override string Manifest(object o) =>
        o is IMessage message && message.Descriptor.File == ClusterReflection.Descriptor ? message.Descriptor.Name : throw Unknown(o);

    /// <inheritdoc />
    public override byte[] ToBinary(object obj) =>
        obj is IMessage message && message.Descriptor.File == ClusterReflection.Descriptor ? message.ToByteArray() : throw Unknown(obj);

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (!Parsers.TryGetValue(manifest, out var parser))
        {
            throw new SerializationException($"lazy-actors cluster wire: unknown manifest '{manifest}' ({bytes.Length} bytes)");
        }

        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new SerializationException($"lazy-actors cluster wire: a malformed '{manifest}' message of {bytes.Length} bytes: {e.Message}", e);
        }
    }

    private static SerializationException Unknown(object o) =>
        new($"lazy-actors cluster wire: {o?.GetType().FullName ?? "null"} is not a message of protos/remote/cluster.proto");
}
