using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace LazyActors.Engine.Remoting;

/// <summary>
/// Bound to <c>System.Object</c> on the transport's actor systems: a message without a serializer of its own is refused
/// with its type named, instead of crossing the wire through Akka's JSON (reflection) serializer.
/// </summary>
public sealed class RefusingSerializer : Serializer
{
    /// <summary>Created by Akka from the configuration.</summary>
    public RefusingSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    /// <inheritdoc />
    public override int Identifier => ProtobufWireSerializer.Id + 1;

    /// <inheritdoc />
    public override bool IncludeManifest => false;

    /// <inheritdoc />
    public override byte[] ToBinary(object obj) =>
        throw new SerializationException($"lazy-actors wire: {obj?.GetType().FullName ?? "null"} has no serializer binding; only the messages of protos/remote/page_source.proto cross the Akka transport");

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, Type type) =>
        throw new SerializationException($"lazy-actors wire: a message of type {type?.FullName ?? "(none)"} arrived without a serializer binding; refused");
}
