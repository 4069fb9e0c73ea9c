using Akka.Actor;
using Google.Protobuf;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Remoting;
using LazyActors.Engine.Remoting.Cluster;
using LazyActors.Engine.Remoting.Cluster.Wire;
using LazyActors.Engine.Remoting.Wire;
using Xunit;

namespace LazyActors.Engine.Tests.Remoting.Cluster;

/// <summary>
/// The cluster registry's messages through the serializer Akka picks for them on a node configured as
/// <see cref="ClusterTransport.SystemConfig"/> configures it: each is bound to <see cref="ClusterWireSerializer"/> and comes
/// back equal; the transport's own messages keep their serializer; the settings of the cluster section are read.
/// </summary>
public sealed class ClusterWireSerializerTests : IAsyncLifetime
{
    private readonly ActorSystem _system = ActorSystem.Create(ClusterTransport.SystemName, ClusterTransport.SystemConfig("127.0.0.1", 0, AkkaTransportSettings.Default, [],
        Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING")));

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));

    [Fact]
    public void Every_registry_message_is_bound_to_the_cluster_serializer_and_round_trips()
    {
        var entry = new RegistryEntry
        {
            Checkpoint = "svc",
            Role = CheckpointRole.Destination,
            PagesPath = "akka.tcp://lazy-cluster@127.0.0.1:4000/user/peer-pages",
            ChunkPages = 16,
            Held = ByteString.CopyFrom(0x81, 0x00, 0x7f),
            Complete = true,
            Version = 42,
            Restoring = true,
        };
        var sync = new RegistrySync { Node = "akka.tcp://lazy-cluster@127.0.0.1:4000", Full = true };
        sync.Entries.Add(entry);
        sync.Withdrawn.Add(new RegistryEntry { Checkpoint = "old", Role = CheckpointRole.Source });
        IMessage[] messages = [entry, sync];
        Assert.Equal(ClusterReflection.Descriptor.MessageTypes.Count, messages.Length);

        foreach (var message in messages)
        {
            var serializer = _system.Serialization.FindSerializerFor(message);
            Assert.IsType<ClusterWireSerializer>(serializer);
            var bytes = serializer.ToBinary(message);
            var back = _system.Serialization.Deserialize(bytes, serializer.Identifier, Akka.Serialization.Serialization.ManifestFor(serializer, message));
            Assert.Equal(message, back);
            Assert.Equal(message, message.Descriptor.Parser.ParseFrom(bytes)); // plain protobuf on the wire
        }
    }

    [Fact]
    public void The_transport_messages_keep_their_serializer_on_a_cluster_node_and_others_are_refused()
    {
        Assert.IsType<ProtobufWireSerializer>(_system.Serialization.FindSerializerFor(new PageRequest { Id = 1 }));
        Assert.IsType<RefusingSerializer>(_system.Serialization.FindSerializerFor(new Uri("http://example.invalid")));
        Assert.Equal("cluster", _system.Settings.Config.GetString("akka.actor.provider"));
    }

    [Fact]
    public void The_cluster_settings_are_read_from_the_node_configuration()
    {
        var settings = ClusterSettings.Read(_system.Settings.Config);

        Assert.Equal(16, settings.ChunkPages);
        Assert.Equal(TimeSpan.FromSeconds(8), settings.PeerLinger);
        Assert.Equal(TimeSpan.FromMilliseconds(100), settings.PublishInterval);
    }

    [Fact]
    public void A_chunk_that_is_not_a_page_multiple_is_refused_naming_the_key()
    {
        var config = Akka.Configuration.ConfigurationFactory.ParseString("lazy-actors.cluster.chunk = 5000").WithFallback(_system.Settings.Config);

        var error = Assert.Throws<Akka.Configuration.ConfigurationException>(() => ClusterSettings.Read(config));

        Assert.Contains("lazy-actors.cluster.chunk", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:2552", "akka.tcp://lazy-cluster@127.0.0.1:2552")]
    [InlineData("akka.tcp://lazy-cluster@10.0.0.5:4000", "akka.tcp://lazy-cluster@10.0.0.5:4000")]
    public void A_seed_node_is_read_with_or_without_the_protocol(string seed, string expected) =>
        Assert.Equal(expected, ClusterTransport.ParseSeed(seed).ToString());

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("akka.tcp://lazy-source@127.0.0.1:2552")]
    public void A_seed_node_without_a_port_or_of_another_system_is_refused_naming_it(string seed)
    {
        var error = Assert.Throws<ArgumentException>(() => ClusterTransport.ParseSeed(seed));

        Assert.Contains(seed, error.Message, StringComparison.Ordinal);
    }
}
