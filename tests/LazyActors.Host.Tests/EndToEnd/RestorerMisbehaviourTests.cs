using System.Buffers.Binary;
using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;
using LazyActors.Engine.Uffd;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.EndToEnd;

/// <summary>
/// A restorer that hands the engine something it cannot serve, with real userfaultfds on the real lazy-pages socket:
/// every case used to end in exit 0 with nothing served. Each must now fail the restore with a clear reason.
/// </summary>
public sealed class RestorerMisbehaviourTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly ScratchDirectory _work = new();

    public void Dispose() => _work.Dispose();

    private static int[] Pids => [SyntheticCheckpoint.FirstPid, SyntheticCheckpoint.FirstPid + 1];

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_uffd_never_given_UFFDIO_API_fails_the_restore(bool backgroundPush)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var result = await RestoreAsync(backgroundPush, socket =>
        {
            using var raw = UserFaultFd.Create();
            SendTask(socket, Pids[0], raw.Handle);
            SendTask(socket, Pids[1], raw.Handle);
            SendWord(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
        });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"pid {Pids[0]}", result.Error);
        Assert.Contains("never given UFFDIO_API", result.Error);
    }

    /// <summary>A uffd whose task registered nothing: the first copy into each lazy VMA at "restore finished" says ENOENT,
    /// so the restore fails naming the task and the range, even with faults only (nothing would ever be copied).</summary>
    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_uffd_with_nothing_registered_fails_the_restore_naming_task_and_range(bool backgroundPush)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var result = await RestoreAsync(backgroundPush, socket =>
        {
            foreach (var pid in Pids)
            {
                using var uffd = UserFaultFd.Create();
                uffd.Api(UffdFeatures.NonCooperative);
                SendTask(socket, pid, uffd.Handle);
            }

            SendWord(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
        });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("lost", result.Error);
        Assert.Contains("ENOENT", result.Error);
        using var checkpoint = Checkpoint.Open(Images);
        var first = checkpoint.GetTask(Pids[0]).LazyRanges[0].Start;
        Assert.Contains($"pid {Pids[0]}", result.Error);
        Assert.Contains($"0x{first:x}-", result.Error);
    }

    /// <summary>Eight bytes (a zombie pid and "restore finished") used to end a restore with exit 0: a live task of
    /// pstree.img announced as a zombie is refused.</summary>
    [Fact]
    public async Task A_live_task_announced_as_a_zombie_fails_the_restore()
    {
        var result = await RestoreAsync(true, socket =>
        {
            SendWord(socket, -Pids[0]);
            SendWord(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
        });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"says pid {Pids[0]} is a zombie, but it is a live task", result.Error);
    }

    [Fact]
    public async Task Fewer_tasks_than_pstree_holds_fail_the_restore()
    {
        MakeZombie(Pids[1]);
        var result = await RestoreAsync(true, socket =>
        {
            SendWord(socket, -Pids[1]);
            SendWord(socket, unchecked((int)LazyPagesHandshake.RestoreFinished));
        });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("\"restore finished\" after 1 of the 2 pstree entries", result.Error);
    }

    [Fact]
    public async Task A_descriptor_that_is_not_a_userfaultfd_fails_the_restore_in_one_line()
    {
        var result = await RestoreAsync(true, socket =>
        {
            var (read, write) = ReadinessSignal.CreateInheritablePipe();
            using (read)
            {
                SendTask(socket, Pids[0], read);
            }

            ReadinessSignal.Close(write);
        });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"the restorer sent pid {Pids[0]} a descriptor the daemon cannot serve: the descriptor is not a userfaultfd (it is pipe:[", result.Error);
        Assert.DoesNotContain("\n", result.Error);
    }

    private string Images => Path.Combine(_work.Path, "images");

    private void MakeZombie(int pid)
    {
        SyntheticCheckpoint.Write(Images, new SyntheticCheckpointOptions(2, 1L << 20, 0xBAD));
        CraftedMemory.MakeZombie(Images, pid);
    }

    private async Task<EngineResult> RestoreAsync(bool backgroundPush, Action<SafeFdHandle> restorer)
    {
        if (!Directory.Exists(Images))
        {
            SyntheticCheckpoint.Write(Images, new SyntheticCheckpointOptions(2, 1L << 20, 0xBAD));
        }

        var settings = EngineSettings.Create(Images, _work.Path) with
        {
            AcceptTimeout = Bound,
            HandshakeTimeout = Bound,
            BackgroundPush = backgroundPush,
        };
        using var engine = LazyPagesEngine.Listen(settings);
        var run = engine.RunAsync(ConfigurationFactory.ParseString("akka.loglevel = INFO"), null, null, CancellationToken.None);
        using (var socket = UnixSocket.Connect(engine.SocketPath))
        {
            restorer(socket);
            var result = await run.WaitAsync(Bound);
            output.WriteLine($"exit {result.ExitCode}: {result.Error}");
            return result;
        }
    }

    private static void SendTask(SafeFdHandle socket, int pid, SafeFdHandle uffd)
    {
        SendWord(socket, pid);
        UnixSocket.SendFd(socket, uffd);
    }

    private static void SendWord(SafeFdHandle socket, int value)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(word, value);
        UnixSocket.SendExactly(socket, word);
    }
}
