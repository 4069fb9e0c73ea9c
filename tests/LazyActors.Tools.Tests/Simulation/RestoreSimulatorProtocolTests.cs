using System.Buffers.Binary;
using LazyActors.Engine.Images;
using LazyActors.Engine.Images.Proto;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using LazyActors.Tools.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Simulation;

/// <summary>What the simulator puts on lazy-pages.socket, byte for byte, and how it behaves when nobody serves.</summary>
public sealed class RestoreSimulatorProtocolTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void Handshake_bytes_match_criu_restore_including_a_zombie()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(3, 1L << 20, 0x5EED));
        int zombie;
        using (var checkpoint = Checkpoint.Open(images))
        {
            zombie = checkpoint.Tasks[^1].Pid;
        }

        MakeZombie(images, zombie);

        SimReport report;
        using (var handler = new MinimalLazyPagesHandler(images, work.Path, TimeSpan.FromSeconds(30)))
        {
            report = Run(images, work.Path, TimeSpan.FromSeconds(30));
            Assert.True(report.Ok, report.Error);

            using var checkpoint = Checkpoint.Open(images);
            var expected = new List<byte>();
            foreach (var task in checkpoint.Tasks)
            {
                var word = new byte[4];
                BinaryPrimitives.WriteInt32LittleEndian(word, task.State == TaskState.Dead ? -task.Pid : task.Pid);
                expected.AddRange(word);
                if (task.State != TaskState.Dead)
                {
                    expected.Add(0x00); // the one data byte that carries SCM_RIGHTS
                }
            }

            expected.AddRange(new byte[] { 0x46, 0x54, 0x53, 0x52 }); // "FTSR" = 0x52535446
            Assert.Equal(expected, handler.RawBytes);
            Assert.Equal(2, handler.ReceivedFdKinds.Count);
            Assert.All(handler.ReceivedFdKinds, kind => Assert.Equal("anon_inode:[userfaultfd]", kind));
        }

        Assert.Equal([zombie], report.Zombies);
        Assert.Equal(2, report.Tasks.Count);
        Assert.DoesNotContain(report.Tasks, t => t.Pid == zombie);
    }

    [SkippableFact]
    public void A_daemon_that_never_serves_makes_the_simulator_time_out_name_the_pages_and_reap_its_tasks()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 1L << 20, 0x0BAD));

        SimReport report;
        using (new MinimalLazyPagesHandler(images, work.Path, TimeSpan.FromSeconds(30), serveFaults: false))
        {
            // 4 s to touch, counted once both tasks registered (a loaded machine takes seconds to start them).
            report = Run(images, work.Path, TimeSpan.FromSeconds(4), startTimeout: TimeSpan.FromSeconds(60));
        }

        Assert.False(report.Ok);
        Assert.Equal(2, report.Tasks.Count);
        Assert.All(report.Tasks, t =>
        {
            Assert.NotNull(t.Unserved);
            Assert.NotEmpty(t.Unserved!);
            Assert.Contains("not served", t.Error);
        });
        foreach (var t in report.Tasks.Where(t => t.OsPid > 0))
        {
            Assert.False(Directory.Exists($"/proc/{t.OsPid}"), $"task process {t.OsPid} was left behind");
        }
    }

    [Fact]
    public void Connecting_with_no_daemon_fails_fast_with_a_clear_message()
    {
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(1, 256L << 10, 7));

        var report = Run(images, work.Path, TimeSpan.FromSeconds(5));

        Assert.False(report.Ok);
        Assert.Contains("lazy-pages.socket", report.Error);
        Assert.Contains("failed", report.Error);
    }

    private SimReport Run(string images, string workDir, TimeSpan timeout, TimeSpan? startTimeout = null) =>
        new RestoreSimulator(new RestoreSimOptions
        {
            ImagesDir = images,
            WorkDir = workDir,
            Touch = TouchOrder.Seq,
            Timeout = timeout,
            StartTimeout = startTimeout,
            Progress = output.WriteLine,
        }).Run();

    /// <summary>Rewrites a task's core image with task_state = DEAD, as CRIU records a zombie.</summary>
    private static void MakeZombie(string images, int pid)
    {
        var path = Path.Combine(images, $"core-{pid}.img");
        var raw = ImageFile.Read(path, ImageMagic.Core, ImageMagic.ImgVersionV1_1);
        var core = CoreEntry.Parser.ParseFrom(raw.Entries[0]);
        core.Tc.TaskState = (uint)TaskState.Dead;
        using var writer = ImageFileWriter.Create(path, ImageMagic.Core);
        writer.WriteEntry(core);
    }
}
