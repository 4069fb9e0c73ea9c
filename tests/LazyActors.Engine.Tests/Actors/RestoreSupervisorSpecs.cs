using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;
using LazyActors.Engine.Uffd;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;
using static LazyActors.Engine.Tests.Actors.ActorSpecSupport;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>
/// The whole actor tree (supervisor, task actors, page cache, pusher) behind a real lazy-pages socket and real local
/// images, with fake uffds: handshake rules, completion, supervision and fork children.
/// </summary>
public sealed class RestoreSupervisorSpecs : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly ScratchDirectory _dir = new();
    private readonly FakeUffdHub _hub = new();
    private readonly SyntheticLayout _layout;

    public RestoreSupervisorSpecs()
    {
        _layout = SyntheticCheckpoint.Write(_dir.Path, new SyntheticCheckpointOptions(2, 1 << 20, 7));
    }

    public void Dispose() => _dir.Dispose();

    private LazyPagesEngine Listen() => LazyPagesEngine.Listen(EngineSettings.Create(_dir.Path) with
    {
        AcceptTimeout = TimeSpan.FromSeconds(20),
        HandshakeTimeout = TimeSpan.FromSeconds(20),
    });

    private Task<EngineResult> RunAsync(LazyPagesEngine engine, CancellationToken cancel = default) =>
        engine.RunAsync(ConfigurationFactory.ParseString("akka.loglevel = WARNING"), _ => _hub, null, cancel);

    private static int[] Pids => [SyntheticCheckpoint.FirstPid, SyntheticCheckpoint.FirstPid + 1];

    [Fact]
    public async Task Restore_must_push_every_page_of_every_task_and_exit_0()
    {
        using var engine = Listen();
        var run = RunAsync(engine);
        using (var restorer = new RestorerPlayer(engine.SocketPath))
        {
            foreach (var pid in Pids)
            {
                restorer.SendTask(pid);
            }

            restorer.SendFinished();
        }

        var result = await run.WaitAsync(Bound);
        Assert.True(result.Succeeded, result.Error);
        using var checkpoint = Checkpoint.Open(_dir.Path);
        Assert.Equal(2, result.Statistics.Tasks.Count);
        foreach (var task in result.Statistics.Tasks)
        {
            Assert.Equal(TaskPhase.Complete, task.Phase);
            Assert.Equal((long)checkpoint.GetTask(task.Pid).LazyPages, task.TotalPages);
            Assert.Equal(task.TotalPages, task.CopiedPages);
        }

        var uffds = _hub.Opened.ToArray();
        Assert.Equal(2, uffds.Length);
        Assert.All(uffds, u => Assert.True(u.IsDisposed));
        Assert.Equal(result.Statistics.Tasks.Sum(t => t.TotalPages), uffds.Sum(u => u.Pages.Count));
        Assert.True(result.Statistics.ZeroCopyReads > 0);
        _ = _layout;
    }

    [Fact]
    public async Task Restore_must_serve_faults_before_restore_finished()
    {
        using var engine = Listen();
        var run = RunAsync(engine);
        using var checkpoint = Checkpoint.Open(_dir.Path);
        var lazy = checkpoint.GetTask(Pids[0]).LazyRanges[0];
        using (var restorer = new RestorerPlayer(engine.SocketPath))
        {
            restorer.SendTask(Pids[0]);
            var uffd = await WaitForAsync(() => _hub.Opened.FirstOrDefault());
            var owner = await WaitForAsync(() => _hub.Owners.TryGetValue(uffd, out var o) ? o : null);
            owner.Tell(UffdActor.Events.Of([Fault(lazy.Start)]));
            await WaitForAsync(() => uffd.Pages.ContainsKey(lazy.Start) ? uffd : null);
            Assert.Single(uffd.Copies);

            restorer.SendTask(Pids[1]);
            restorer.SendFinished();
        }

        Assert.True((await run.WaitAsync(Bound)).Succeeded);
    }

    [Fact]
    public async Task Restore_must_accept_zombies_on_the_wire()
    {
        using var engine = Listen();
        var run = RunAsync(engine);
        using (var restorer = new RestorerPlayer(engine.SocketPath))
        {
            restorer.SendTask(Pids[0]);
            restorer.SendZombie(Pids[1]);
            restorer.SendFinished();
        }

        var result = await run.WaitAsync(Bound);
        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(Pids[0], Assert.Single(result.Statistics.Tasks).Pid);
    }

    [Fact]
    public async Task Restore_must_fail_on_an_unexpected_finish_word()
    {
        using var engine = Listen();
        var run = RunAsync(engine);
        using (var restorer = new RestorerPlayer(engine.SocketPath))
        {
            restorer.SendTask(Pids[0]);
            restorer.SendTask(Pids[1]);
            restorer.SendFinished(0xdeadbeef);
        }

        var result = await run.WaitAsync(Bound);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Unexpected response 0xdeadbeef", result.Error);
    }

    [Fact]
    public async Task Restore_must_fail_when_the_restorer_closes_before_finishing()
    {
        using var engine = Listen();
        var run = RunAsync(engine);
        using (var restorer = new RestorerPlayer(engine.SocketPath))
        {
            restorer.SendTask(Pids[0]);
        }

        var result = await run.WaitAsync(Bound);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Restorer unexpectedly closed the connection", result.Error);
        Assert.All(_hub.Opened, u => Assert.True(u.IsDisposed));
    }

    [Fact]
    public async Task Restore_must_fail_on_a_pid_that_is_not_in_the_pstree()
    {
        using var engine = Listen();
        var run = RunAsync(engine);
        using (var restorer = new RestorerPlayer(engine.SocketPath))
        {
            restorer.SendTask(4242);
        }

        var result = await run.WaitAsync(Bound);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("pid 4242", result.Error);
    }

    /// <summary>Two tasks; every copy into the first one's uffd fails with <paramref name="errno"/>.</summary>
    private async Task<EngineResult> RestoreTwoTasksWhoseFirstCopyFailsWithAsync(Errno errno)
    {
        _hub.Configure = uffd =>
        {
            if (_hub.Opened.IsEmpty)
            {
                uffd.Respond = c => new UffdOpResult(0, errno);
            }
        };
        using var engine = Listen();
        var run = RunAsync(engine);
        using (var restorer = new RestorerPlayer(engine.SocketPath))
        {
            restorer.SendTask(Pids[0]);
            await WaitForAsync(() => _hub.Opened.FirstOrDefault());
            restorer.SendTask(Pids[1]);
            restorer.SendFinished();
        }

        return await run.WaitAsync(Bound);
    }

    [Fact]
    public async Task Restore_must_stop_only_the_failing_task_and_report_it()
    {
        var result = await RestoreTwoTasksWhoseFirstCopyFailsWithAsync(Errno.EFAULT);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"task {Pids[0]}", result.Error);
        Assert.Contains("EFAULT", result.Error);
        var phases = result.Statistics.Tasks.ToDictionary(t => t.Pid, t => t.Phase);
        Assert.Equal(TaskPhase.Failed, phases[Pids[0]]);
        Assert.Equal(TaskPhase.Complete, phases[Pids[1]]);
    }

    [Fact]
    public async Task Restore_must_keep_each_failing_tasks_own_reason_when_two_fail_at_once()
    {
        var errnos = new Queue<Errno>([Errno.EFAULT, Errno.EINVAL]);
        _hub.Configure = uffd =>
        {
            var errno = errnos.Dequeue();
            uffd.Respond = c => new UffdOpResult(0, errno);
        };
        using var engine = Listen();
        var run = RunAsync(engine);
        using (var restorer = new RestorerPlayer(engine.SocketPath))
        {
            restorer.SendTask(Pids[0]);
            await WaitForAsync(() => _hub.Opened.FirstOrDefault());
            restorer.SendTask(Pids[1]);
            restorer.SendFinished();
        }

        var result = await run.WaitAsync(Bound);
        Assert.Equal(1, result.ExitCode);
        var tasks = result.Statistics.Tasks.ToDictionary(t => t.Pid);
        foreach (var (pid, errno) in new[] { (Pids[0], Errno.EFAULT), (Pids[1], Errno.EINVAL) })
        {
            Assert.Equal(TaskPhase.Failed, tasks[pid].Phase);
            Assert.StartsWith($"task {pid}: ", tasks[pid].Reason);
            Assert.Contains(errno.ToString(), tasks[pid].Reason);
            Assert.Contains(tasks[pid].Reason!, result.Error);
        }
    }

    [Fact]
    public async Task Restore_must_succeed_when_a_task_exits()
    {
        var result = await RestoreTwoTasksWhoseFirstCopyFailsWithAsync(Errno.ESRCH);
        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(TaskPhase.Exited, result.Statistics.Tasks.Single(t => t.Pid == Pids[0]).Phase);
    }

    [Fact]
    public async Task Restore_must_serve_fork_children_to_completion()
    {
        using var engine = Listen();
        var run = RunAsync(engine);
        using (var restorer = new RestorerPlayer(engine.SocketPath))
        {
            restorer.SendTask(Pids[0]);
            var parent = await WaitForAsync(() => _hub.Opened.FirstOrDefault());
            var owner = await WaitForAsync(() => _hub.Owners.TryGetValue(parent, out var o) ? o : null);
            var (read, write) = ReadinessSignal.CreateInheritablePipe();
            read.Dispose();
            owner.Tell(UffdActor.Events.Of([Fork((uint)write)]));
            await WaitForAsync(() => _hub.Opened.Count == 2 ? parent : null);
            restorer.SendTask(Pids[1]);
            restorer.SendFinished();
        }

        var result = await run.WaitAsync(Bound);
        Assert.True(result.Succeeded, result.Error);
        var child = Assert.Single(result.Statistics.Tasks, t => t.IsForkChild);
        Assert.Equal(Pids[0], child.Pid);
        Assert.Equal(TaskPhase.Complete, child.Phase);
        Assert.Equal(3, _hub.Opened.Count);
        Assert.Equal(child.TotalPages, _hub.Opened.ToArray()[1].Pages.Count);
    }

    [Fact]
    public async Task Engine_must_replace_a_stale_socket_file_and_stop_when_cancelled()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.Path, LazyPagesHandshake.SocketName), "stale");
        using var engine = Listen();
        using var cancel = new CancellationTokenSource();
        var run = RunAsync(engine, cancel.Token);
        await Task.Delay(200);
        await cancel.CancelAsync();
        var result = await run.WaitAsync(Bound);
        Assert.Equal(130, result.ExitCode);
    }

    [Fact]
    public async Task Engine_must_report_unreadable_images()
    {
        File.Delete(Path.Combine(_dir.Path, "pstree.img"));
        using var engine = Listen();
        var result = await RunAsync(engine).WaitAsync(Bound);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("pstree", result.Error);
    }

    private static async Task<T> WaitForAsync<T>(Func<T?> probe)
        where T : class
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (probe() is { } value)
            {
                return value;
            }

            await Task.Delay(10);
        }

        throw new TimeoutException("condition not met within 10 s");
    }
}
