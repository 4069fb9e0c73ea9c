using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using Akka.Actor;
using Google.Protobuf;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Remoting;
using LazyActors.Engine.Remoting.Wire;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Engine.Tests.Remoting;

/// <summary>
/// The Akka transport's messages through the serializer Akka picks for them on a remoting actor system configured as
/// the transport configures it: every message of page_source.proto is bound to <see cref="ProtobufWireSerializer"/> and
/// comes back equal; anything else is refused, never handed to a reflection serializer.
/// </summary>
public sealed class ProtobufWireSerializerTests : IAsyncLifetime
{
    private readonly ActorSystem _system = ActorSystem.Create("wire-test", AkkaTransport.SystemConfig("127.0.0.1", 0, AkkaTransportSettings.Default,
        Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING")));

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));

    public static TheoryData<string> MessageNames()
    {
        var data = new TheoryData<string>();
        foreach (var message in PageSourceReflection.Descriptor.MessageTypes)
        {
            data.Add(message.Name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(MessageNames))]
    public void Every_message_of_the_proto_is_bound_to_the_protobuf_serializer_and_round_trips(string name)
    {
        var descriptor = PageSourceReflection.Descriptor.MessageTypes.Single(m => m.Name == name);
        var message = Sample(descriptor.ClrType);

        var serializer = _system.Serialization.FindSerializerForType(descriptor.ClrType);
        Assert.IsType<ProtobufWireSerializer>(serializer);
        var bytes = serializer.ToBinary(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var back = _system.Serialization.Deserialize(bytes, serializer.Identifier, manifest);

        Assert.Equal(message, back);
        Assert.Equal(message, descriptor.Parser.ParseFrom(bytes)); // plain protobuf on the wire
    }

    [Fact]
    public void A_page_reply_over_native_memory_is_written_with_its_data_last_and_read_back_over_the_frame()
    {
        const int Bytes = 3 * 4096;
        var native = Marshal.AllocHGlobal(Bytes);
        try
        {
            unsafe
            {
                var pages = new Span<byte>((void*)native, Bytes);
                for (int i = 0; i < Bytes; i++)
                {
                    pages[i] = (byte)((i * 7) + (i >> 12));
                }
            }

            var reply = new PageReply { Id = 77, Pid = 1001, Vaddr = 0x7f00_0000_0000, Pages = 3, Data = UnsafeByteOperations.UnsafeWrap(new NativeMemoryManager(native, Bytes).Memory) };
            var bytes = ProtobufWireSerializer.WriteReply(reply);

            Assert.Equal(reply.CalculateSize(), bytes.Length);
            Assert.Equal(reply.ToByteArray(), bytes); // the same encoding the generated code writes
            var back = ProtobufWireSerializer.ReadReply(bytes);
            Assert.Equal(reply, back);
            Assert.True(MemoryMarshal.TryGetArray(back.Data.Memory, out var segment) && ReferenceEquals(segment.Array, bytes), "the data is not a view of the frame");
            Assert.Equal(bytes.Length - Bytes, segment.Offset);
        }
        finally
        {
            Marshal.FreeHGlobal(native);
        }
    }

    [Fact]
    public void A_page_reply_whose_data_is_not_last_is_still_read_right()
    {
        var data = Enumerable.Range(0, 4096).Select(i => (byte)i).ToArray();
        var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        output.WriteTag(PageReply.DataFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(data));
        output.WriteTag(PageReply.IdFieldNumber, WireFormat.WireType.Varint);
        output.WriteUInt64(9);
        output.WriteTag(PageReply.PagesFieldNumber, WireFormat.WireType.Varint);
        output.WriteUInt32(1);
        output.Flush();

        var back = ProtobufWireSerializer.ReadReply(stream.ToArray());

        Assert.Equal(new PageReply { Id = 9, Pages = 1, Data = ByteString.CopyFrom(data) }, back);
    }

    [Fact]
    public void A_message_without_a_binding_is_refused_with_its_type_named()
    {
        var message = new Identify("not ours"); // Akka's own: bound to Akka's serializer, allowed
        Assert.IsNotType<RefusingSerializer>(_system.Serialization.FindSerializerFor(message));

        var stranger = new Stranger(42);
        var serializer = _system.Serialization.FindSerializerFor(stranger);

        Assert.IsType<RefusingSerializer>(serializer);
        var error = Assert.Throws<SerializationException>(() => serializer.ToBinary(stranger));
        Assert.Contains(typeof(Stranger).FullName!, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_frame_is_a_serialization_error_naming_the_message()
    {
        var serializer = (ProtobufWireSerializer)_system.Serialization.FindSerializerForType(typeof(PageRequest));

        var error = Assert.Throws<SerializationException>(() => serializer.FromBinary([0x0a, 0xff, 0xff], nameof(PageRequest)));
        Assert.Contains($"'{nameof(PageRequest)}'", error.Message, StringComparison.Ordinal);
        Assert.Throws<SerializationException>(() => serializer.FromBinary([], "XX"));
    }

    [Fact]
    public void A_checkpoint_description_round_trips_into_the_same_restore_model()
    {
        using var work = new ScratchDirectory("wire");
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(3, 2L << 20, 0x1234));
        using var original = Checkpoint.Open(images);
        var metadata = CheckpointDescription.Of(original, "c1", 1 << 20, 99);
        var serializer = _system.Serialization.FindSerializerFor(metadata);

        var back = (CheckpointMetadata)_system.Serialization.Deserialize(serializer.ToBinary(metadata), serializer.Identifier, nameof(CheckpointMetadata));
        using var described = CheckpointDescription.ToCheckpoint(back, "akka.tcp://lazy-source@127.0.0.1:1");

        Assert.True(described.IsDescribed);
        Assert.Null(described.Parent);
        Assert.Equal(original.Tasks.Select(t => t.Pid), described.Tasks.Select(t => t.Pid));
        foreach (var (a, b) in original.Tasks.Zip(described.Tasks))
        {
            Assert.Equal((a.Ppid, a.Pgid, a.Sid, a.State), (b.Ppid, b.Pgid, b.Sid, b.State));
            Assert.Equal(a.Threads, b.Threads);
            Assert.Equal(a.Vmas, b.Vmas);
            Assert.Equal(a.GuardVmas, b.GuardVmas);
            Assert.Equal(a.LazyRanges, b.LazyRanges);
            Assert.Equal(a.NeverDumpedLazyCapable, b.NeverDumpedLazyCapable);
            Assert.Equal(a.LazyPages, b.LazyPages);
            Assert.Equal(a.Pagemap.Select(r => (r.Vaddr, r.NrPages)), b.Pagemap.Select(r => (r.Vaddr, r.NrPages)));
            Assert.All(b.Pagemap.Where(r => r.IsLazy), r => Assert.False(r.IsPresent)); // as a lazy dump: no data here
        }
    }

    [Fact]
    public void A_description_with_overlapping_runs_is_refused_naming_the_peer_and_the_task()
    {
        var metadata = new CheckpointMetadata { Checkpoint = "c", ImgVersion = 2 };
        var task = new TaskMetadata { Pid = 5, HasPagemap = true };
        task.Pagemap.Add(new PagemapRange { Vaddr = 0x10000, NrPages = 4, Flags = 2 });
        task.Pagemap.Add(new PagemapRange { Vaddr = 0x11000, NrPages = 1, Flags = 2 });
        metadata.Tasks.Add(task);

        var error = Assert.Throws<ImageFormatException>(() => CheckpointDescription.ToCheckpoint(metadata, "akka.tcp://lazy-source@10.0.0.5:1"));

        Assert.Contains("10.0.0.5", error.Message, StringComparison.Ordinal);
        Assert.Contains("pid 5", error.Message, StringComparison.Ordinal);
        Assert.Contains("sorted and disjoint", error.Message, StringComparison.Ordinal);
    }

    private static IMessage Sample(Type type)
    {
        var metadata = new CheckpointMetadata { RequestId = 3, Checkpoint = "web-1", ImgVersion = 2, MaxReplyBytes = 1 << 20, LazyPages = 12345 };
        var task = new TaskMetadata { Pid = 1000, Ppid = 1, Pgid = 1000, Sid = 1000, State = 1, HasPagemap = true };
        task.Threads.Add([1000, 1003]);
        task.Vmas.Add(new VmaMetadata { Start = 0x7f00_0000_0000, End = 0x7f00_0010_0000, Pgoff = 0, Shmid = 0, Prot = 3, Flags = 0x22, Status = 1 });
        task.GuardVmas.Add(new VmaMetadata { Start = 0x7f00_0020_0000, End = 0x7f00_0020_1000, Status = 1u << 31 });
        task.Pagemap.Add(new PagemapRange { Vaddr = 0x7f00_0000_0000, NrPages = 256, Flags = 2 });
        metadata.Tasks.Add(task);
        return type.Name switch
        {
            nameof(CheckpointRequest) => new CheckpointRequest { RequestId = 3, Checkpoint = "web-1" },
            nameof(CheckpointMetadata) => metadata,
            nameof(TaskMetadata) => task,
            nameof(VmaMetadata) => task.Vmas[0],
            nameof(PagemapRange) => task.Pagemap[0],
            nameof(CheckpointUnavailable) => new CheckpointUnavailable { RequestId = 3, Checkpoint = "web-2", Reason = "not here" },
            nameof(PageRequest) => new PageRequest { Id = ulong.MaxValue, Pid = 1000, Vaddr = 0x7f00_0000_1000, Pages = 128, Priority = Priority.Bulk },
            nameof(PageReply) => new PageReply { Id = 5, Pid = 1000, Vaddr = 0x7f00_0000_1000, Pages = 1, Data = ByteString.CopyFrom(Enumerable.Range(0, 4096).Select(i => (byte)(i ^ 0x5a)).ToArray()) },
            nameof(PageError) => new PageError { Id = 6, Pid = 1000, Vaddr = 0x1000, Reason = "the address is not lazy" },
            nameof(BulkEndpointRequest) => new BulkEndpointRequest { RequestId = 7 },
            nameof(BulkEndpoint) => new BulkEndpoint { RequestId = 7, Host = "10.0.0.5", Port = 40123 },
            _ => throw new InvalidOperationException($"no sample of {type.Name}: add one (every message of page_source.proto is round-tripped)"),
        };
    }

    private sealed record Stranger(int Value);
}
