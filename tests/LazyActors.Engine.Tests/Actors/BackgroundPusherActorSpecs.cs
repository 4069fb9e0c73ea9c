using Akka.Actor;
using Akka.TestKit;
using LazyActors.Engine.Actors;
using Xunit;
using Xunit.Abstractions;
using static LazyActors.Engine.Tests.Actors.ActorSpecSupport;

namespace LazyActors.Engine.Tests.Actors;

public sealed class BackgroundPusherActorSpecs : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(150);

    public BackgroundPusherActorSpecs(ITestOutputHelper output)
        : base(Hocon, output: output)
    {
    }

    private IActorRef StartPusher(params TestProbe[] tasks) => StartPusher(SpecSettings, tasks);

    private IActorRef StartPusher(Engine.Configuration.EngineSettings settings, params TestProbe[] tasks)
    {
        var pusher = Sys.ActorOf(BackgroundPusherActor.Props(settings));
        foreach (var task in tasks)
        {
            pusher.Tell(new BackgroundPusherActor.AddTask(task.Ref));
        }

        return pusher;
    }

    [Fact]
    public async Task Pusher_must_wait_for_restore_finished()
    {
        var task = CreateTestProbe();
        var pusher = StartPusher(task);
        await task.ExpectNoMsgAsync(Quiet);
        pusher.Tell(BackgroundPusherActor.Start.Instance);
        Assert.Equal((ulong)SpecSettings.ChunkInitialBytes, (await task.ExpectMsgAsync<UffdActor.PushChunk>()).MaxBytes);
    }

    [Fact]
    public async Task Pusher_must_ask_for_split_slices_only_while_the_tree_has_fewer_tasks_than_CPUs()
    {
        var alone = CreateTestProbe();
        StartPusher(alone).Tell(BackgroundPusherActor.Start.Instance);
        Assert.Equal(Environment.ProcessorCount > 1, (await alone.ExpectMsgAsync<UffdActor.PushChunk>()).Split);

        var tree = Enumerable.Range(0, Environment.ProcessorCount).Select(_ => CreateTestProbe()).ToArray();
        StartPusher(tree).Tell(BackgroundPusherActor.Start.Instance);
        Assert.False((await tree[0].ExpectMsgAsync<UffdActor.PushChunk>()).Split);

        var off = CreateTestProbe();
        StartPusher(SpecSettings with { SecondCopierSliceBytes = null }, off).Tell(BackgroundPusherActor.Start.Instance);
        Assert.False((await off.ExpectMsgAsync<UffdActor.PushChunk>()).Split);
    }

    [Fact]
    public async Task Pusher_must_never_push_when_background_transfer_is_off()
    {
        var task = CreateTestProbe();
        var pusher = StartPusher(SpecSettings with { BackgroundPush = false }, task);
        pusher.Tell(BackgroundPusherActor.Start.Instance);
        await task.ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task Pusher_must_keep_every_task_busy_at_once_with_at_most_K_chunks_each()
    {
        var tasks = new[] { CreateTestProbe(), CreateTestProbe(), CreateTestProbe() };
        var pusher = StartPusher(tasks);
        pusher.Tell(BackgroundPusherActor.Start.Instance);
        foreach (var task in tasks)
        {
            for (var k = 0; k < SpecSettings.ChunksInFlightPerTask; k++)
            {
                await task.ExpectMsgAsync<UffdActor.PushChunk>();
            }

            await task.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(50));
        }
    }

    [Fact]
    public async Task Pusher_must_push_at_most_the_configured_tasks_at_once_and_rotate_over_all_of_them()
    {
        var tasks = new[] { CreateTestProbe(), CreateTestProbe(), CreateTestProbe() };
        var pusher = StartPusher(SpecSettings with { BackgroundTasksAtOnce = 2, ChunksInFlightPerTask = 1, BackgroundTurnChunks = 1 }, tasks);
        pusher.Tell(BackgroundPusherActor.Start.Instance);
        var first = await tasks[0].ExpectMsgAsync<UffdActor.PushChunk>();
        await tasks[1].ExpectMsgAsync<UffdActor.PushChunk>();
        await tasks[2].ExpectNoMsgAsync(Quiet);

        // The first task finishes its chunk: the waiting third task goes next, not the first again.
        pusher.Tell(new UffdActor.ChunkFinished(tasks[0].Ref, first.MaxBytes, (long)(first.MaxBytes / Page), 0));
        var third = await tasks[2].ExpectMsgAsync<UffdActor.PushChunk>();
        await tasks[0].ExpectNoMsgAsync(Quiet);

        // And when the third finishes, the first gets its turn back.
        pusher.Tell(new UffdActor.ChunkFinished(tasks[2].Ref, third.MaxBytes, (long)(third.MaxBytes / Page), 0));
        await tasks[0].ExpectMsgAsync<UffdActor.PushChunk>();
        await tasks[1].ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task Pusher_must_let_a_pushing_task_keep_its_place_for_a_turn_of_chunks()
    {
        var tasks = new[] { CreateTestProbe(), CreateTestProbe() };
        var pusher = StartPusher(SpecSettings with { BackgroundTasksAtOnce = 1, ChunksInFlightPerTask = 1, BackgroundTurnChunks = 3 }, tasks);
        pusher.Tell(BackgroundPusherActor.Start.Instance);
        for (var turn = 0; turn < 3; turn++)
        {
            var push = await tasks[0].ExpectMsgAsync<UffdActor.PushChunk>();
            await tasks[1].ExpectNoMsgAsync(TimeSpan.FromMilliseconds(20));
            pusher.Tell(new UffdActor.ChunkFinished(tasks[0].Ref, push.MaxBytes, (long)(push.MaxBytes / Page), 0));
        }

        // Three chunks in a row, then the waiting task goes.
        await tasks[1].ExpectMsgAsync<UffdActor.PushChunk>();
        await tasks[0].ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task Pusher_must_grow_chunks_and_shrink_them_after_faults()
    {
        var task = CreateTestProbe();
        var pusher = StartPusher(SpecSettings with { ChunksInFlightPerTask = 1 }, task);
        pusher.Tell(BackgroundPusherActor.Start.Instance);
        var sizes = new List<ulong>();
        for (var i = 0; i < 4; i++)
        {
            var push = await task.ExpectMsgAsync<UffdActor.PushChunk>();
            sizes.Add(push.MaxBytes / Page);
            pusher.Tell(new UffdActor.ChunkFinished(task.Ref, push.MaxBytes, (long)(push.MaxBytes / Page), i == 2 ? 1 : 0));
        }

        sizes.Add((await task.ExpectMsgAsync<UffdActor.PushChunk>()).MaxBytes / Page);
        Assert.Equal([4UL, 8, 16, 4, 8], sizes);
    }

    [Fact]
    public async Task Pusher_must_keep_growing_chunks_when_every_fault_since_was_at_the_push_front()
    {
        var task = CreateTestProbe();
        var pusher = StartPusher(SpecSettings with { ChunksInFlightPerTask = 1 }, task);
        pusher.Tell(BackgroundPusherActor.Start.Instance);
        var sizes = new List<ulong>();
        for (var i = 0; i < 4; i++)
        {
            var push = await task.ExpectMsgAsync<UffdActor.PushChunk>();
            sizes.Add(push.MaxBytes / Page);
            // Chunk 1: three faults, all following the front; chunk 2: three faults, one of them scattered.
            var faults = i is 1 or 2 ? 3 : 0;
            pusher.Tell(new UffdActor.ChunkFinished(task.Ref, push.MaxBytes, (long)(push.MaxBytes / Page), faults) { FrontFaultsSince = i == 2 ? 2 : faults });
        }

        sizes.Add((await task.ExpectMsgAsync<UffdActor.PushChunk>()).MaxBytes / Page);
        Assert.Equal([4UL, 8, 16, 4, 8], sizes);
    }

    [Fact]
    public async Task Pusher_must_keep_growing_chunks_when_every_fault_since_was_scattered_or_at_the_push_front()
    {
        var task = CreateTestProbe();
        var pusher = StartPusher(SpecSettings with { ChunksInFlightPerTask = 1, ChunkInitialBytes = 4096 }, task);
        pusher.Tell(BackgroundPusherActor.Start.Instance);
        var sizes = new List<ulong>();
        for (var i = 0; i < 5; i++)
        {
            var push = await task.ExpectMsgAsync<UffdActor.PushChunk>();
            sizes.Add(push.MaxBytes / Page);
            // Chunks 0-2: three faults each, all scattered (a random toucher); chunk 3: two scattered and one at the
            // front; chunk 4: one of three near the previous fault.
            var scattered = i switch { < 3 => 3, 3 => 2, _ => 2 };
            var front = i == 3 ? 1 : 0;
            pusher.Tell(new UffdActor.ChunkFinished(task.Ref, push.MaxBytes, (long)(push.MaxBytes / Page), 3) { ScatteredFaultsSince = scattered, FrontFaultsSince = front });
        }

        sizes.Add((await task.ExpectMsgAsync<UffdActor.PushChunk>()).MaxBytes / Page);
        // From chunk-initial (1 page) the chunks double to chunk-max (16) as if nobody faulted; the near fault makes
        // the next one the read-ahead's size (4).
        Assert.Equal([1UL, 2, 4, 8, 16, 4], sizes);
    }

    [Fact]
    public async Task Pusher_must_shrink_chunks_after_faults_only_to_the_fault_read_ahead()
    {
        var task = CreateTestProbe();
        var pusher = StartPusher(SpecSettings with { ChunksInFlightPerTask = 1, FaultReadAheadMaxBytes = 8 * 4096 }, task);
        pusher.Tell(BackgroundPusherActor.Start.Instance);
        var sizes = new List<ulong>();
        for (var i = 0; i < 5; i++)
        {
            var push = await task.ExpectMsgAsync<UffdActor.PushChunk>();
            sizes.Add(push.MaxBytes / Page);
            pusher.Tell(new UffdActor.ChunkFinished(task.Ref, push.MaxBytes, (long)(push.MaxBytes / Page), i is 2 or 3 ? 1 : 0));
        }

        sizes.Add((await task.ExpectMsgAsync<UffdActor.PushChunk>()).MaxBytes / Page);
        // 4, 8, 16; faults: down to the read-ahead (8), faults again: stays 8; then it grows again.
        Assert.Equal([4UL, 8, 16, 8, 8, 16], sizes);
    }

    [Fact]
    public async Task Pusher_must_stop_pushing_to_a_task_with_nothing_left()
    {
        var idle = CreateTestProbe();
        var busy = CreateTestProbe();
        var settings = SpecSettings with { ChunksInFlightPerTask = 1 };
        var pusher = StartPusher(settings, idle, busy);
        pusher.Tell(BackgroundPusherActor.Start.Instance);
        var push = await idle.ExpectMsgAsync<UffdActor.PushChunk>();
        pusher.Tell(new UffdActor.NothingToPush(idle.Ref, push.MaxBytes));
        var other = await busy.ExpectMsgAsync<UffdActor.PushChunk>();
        pusher.Tell(new UffdActor.ChunkFinished(busy.Ref, other.MaxBytes, 4, 0));
        await busy.ExpectMsgAsync<UffdActor.PushChunk>();
        await idle.ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task Pusher_must_respect_the_global_byte_budget_and_forget_stopped_tasks()
    {
        var first = CreateTestProbe();
        var second = CreateTestProbe();
        var settings = SpecSettings with { ChunksInFlightPerTask = 4, ChunkInitialBytes = 16 * 4096, MaxBackgroundInFlightBytes = 32 * 4096 };
        var pusher = StartPusher(settings, first, second);
        pusher.Tell(BackgroundPusherActor.Start.Instance);
        await first.ExpectMsgAsync<UffdActor.PushChunk>();
        await second.ExpectMsgAsync<UffdActor.PushChunk>();
        await first.ExpectNoMsgAsync(Quiet);
        await second.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(10));

        Sys.Stop(first.Ref);
        await second.ExpectMsgAsync<UffdActor.PushChunk>();
    }
}
