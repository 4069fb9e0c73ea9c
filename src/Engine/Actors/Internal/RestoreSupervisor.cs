using Akka.Actor;
using Akka.Event;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Restorer;
using LazyActors.Engine.Uffd;
using Cache = LazyActors.Engine.Actors.PageCacheActor;
using Messages = LazyActors.Engine.Actors.RestoreSupervisor;
using Pusher = LazyActors.Engine.Actors.BackgroundPusherActor;
using Task = LazyActors.Engine.Actors.UffdActor;

namespace LazyActors.Engine.Actors.Internal;

/// <summary>The supervisor behind <see cref="Protocol"/>.</summary>
internal sealed class RestoreSupervisor : EngineActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Messages.Restore _restore;
    private readonly Dictionary<IActorRef, TaskProgress> _tasks = [];
    private readonly List<string> _failures = [];
    private readonly CancellationTokenSource _stopHandshake = new();
    private readonly HashSet<int> _seen = [];
    private IActorRef _cache = ActorRefs.Nobody;
    private IActorRef _pusher = ActorRefs.Nobody;
    private Thread? _handshake;
    private bool _finished;
    private bool _done;
    private int _forkChildren;

    public RestoreSupervisor(Messages.Restore restore)
    {
        _restore = restore;
        Receive<Messages.RestorerConnected>(_ => _log.Info("restorer connected, expecting {Entries} pstree entries", _restore.Checkpoint.Tasks.Count));
        Receive<Messages.TaskUffdReceived>(OnTaskUffd);
        Receive<Messages.ZombieReceived>(z => _log.Info("pid {Pid} is a zombie: no memory to serve", z.Pid));
        Receive<Messages.RestoreFinished>(_ => OnRestoreFinished());
        Receive<Messages.Fatal>(f => Finish(1, f.Reason));
        Receive<Task.ForkChildBorn>(OnForkChild);
        Receive<Task.TaskEnded>(ended =>
        {
            if (ended.Phase == TaskPhase.Exited)
            {
                _log.Info("{Task}: task exited ({Reason})", ended.Label, ended.Reason);
            }
        });
        Receive<Terminated>(OnTerminated);
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(ex =>
    {
        // Runs on this actor's thread while it handles the child's failure: recording here is safe.
        var message = ex is TaskFailedException ? ex.Message : $"internal error: {ex}";
        _failures.Add(message);
        _log.Error("task failed and is no longer served: {Failure}", message);
        return Directive.Stop;
    }, loggingEnabled: false);

    /// <summary>Says once whether the fault path's scheduling requests can take effect, so a slow restore in a
    /// container without CAP_SYS_NICE is explained in the log rather than guessed at.</summary>
    private void LogScheduling(Configuration.EngineSettings settings)
    {
        var wanted = settings.ReaderRealtime || settings.EngineThreadsNice is < 0 || settings.ReaderNice < 0 || settings.GatePriority != Scheduling.GatePriority.Off;
        if (!wanted)
        {
            return;
        }

        if (Scheduling.ThreadScheduling.HasCapSysNice())
        {
            _log.Info("scheduling: reader {Reader}, engine threads nice {Nice}, gate priority {Gate}",
                settings.ReaderRealtime ? "SCHED_FIFO 1" : $"nice {settings.ReaderNice}",
                settings.EngineThreadsNice?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unchanged",
                settings.GatePriority.ToString().ToLowerInvariant());
        }
        else
        {
            _log.Warning("scheduling: no CAP_SYS_NICE, so the reader, the engine threads and copies keep normal priority; on a machine the restored tasks keep busy, faults may wait a scheduler tick or more (run as root or grant CAP_SYS_NICE)");
        }
    }

    protected override void PreStart()
    {
        _cache = Context.ActorOf(Cache.Props(_restore.Source, _restore.Settings, _restore.Statistics), "page-cache");
        _pusher = Context.ActorOf(Pusher.Props(_restore.Settings), "pusher");
        Context.Watch(_cache);
        Context.Watch(_pusher);

        LogScheduling(_restore.Settings);
        var observer = new Observer(Self);
        var entries = _restore.Checkpoint.Tasks.Count;
        var listener = _restore.Listener;
        var settings = _restore.Settings;
        var token = _stopHandshake.Token;
        _handshake = new Thread(() => RestorerConnection.Run(listener, entries, settings.AcceptTimeout, settings.HandshakeTimeout, observer, token))
        {
            IsBackground = true,
            Name = "lazy-pages-handshake",
        };
        _handshake.Start();
    }

    protected override void PostStop()
    {
        _stopHandshake.Cancel();
        _handshake?.Join(TimeSpan.FromSeconds(2));
        _stopHandshake.Dispose();
        Finish(1, "the restore supervisor stopped before every task was complete");
    }

    private void OnTaskUffd(Messages.TaskUffdReceived received)
    {
        if (!_restore.Checkpoint.TryGetTask(received.Pid, out var images))
        {
            received.Uffd.Dispose();
            Finish(1, $"the restorer sent pid {received.Pid}, which is not in {_restore.Checkpoint.Directory}/pstree.img");
            return;
        }

        if (!_seen.Add(received.Pid))
        {
            received.Uffd.Dispose();
            Finish(1, $"the restorer sent pid {received.Pid} twice");
            return;
        }

        var book = new TaskRangeBook();
        foreach (var range in images.LazyRanges)
        {
            book.AddLazy(range.Start, range.End, range.Start);
        }

        var label = received.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var progress = _restore.Statistics.AddTask(new TaskProgress(received.Pid, label, (long)book.TotalPages, isForkChild: false));
        _log.Info("{Task}: uffd received, {LazyPages} lazy pages in {Ranges} ranges", label, book.TotalPages, book.Pending.Count);
        Spawn(received.Pid, _restore.Hub.Open(received.Uffd), book, progress, $"task-{label}");
    }

    private void OnForkChild(Task.ForkChildBorn born)
    {
        _forkChildren++;
        var label = $"{born.ParentLabel}-fork{_forkChildren}";
        var progress = _restore.Statistics.AddTask(new TaskProgress(born.Pid, label, born.TotalPages, isForkChild: true));
        Spawn(born.Pid, born.Uffd, born.Book, progress, $"task-{label}");
    }

    private void Spawn(int pid, IUffd uffd, TaskRangeBook book, TaskProgress progress, string name)
    {
        if (_done)
        {
            uffd.Dispose();
            return;
        }

        var spec = new Task.TaskSpec(pid, uffd, book, progress, _finished);
        var child = Context.ActorOf(Task.Props(spec, _cache, _pusher, _restore.Hub, _restore.Settings, _restore.Source, _restore.Statistics), name);
        Context.Watch(child);
        _tasks.Add(child, progress);
        _pusher.Tell(new Pusher.AddTask(child));
    }

    private void OnRestoreFinished()
    {
        _finished = true;
        _log.Info("restore finished; pushing the remaining pages of {Tasks} task(s)", _tasks.Count);
        foreach (var task in _tasks.Keys)
        {
            task.Tell(Task.RestoreFinished.Instance);
        }

        _pusher.Tell(Pusher.Start.Instance);
        CheckDone();
    }

    private void OnTerminated(Terminated terminated)
    {
        if (terminated.ActorRef.Equals(_cache) || terminated.ActorRef.Equals(_pusher))
        {
            Finish(1, $"internal actor {terminated.ActorRef.Path.Name} stopped");
            return;
        }

        if (_tasks.Remove(terminated.ActorRef, out var progress) && progress.Phase == TaskPhase.Serving)
        {
            var reason = _failures.Count > 0 ? _failures[^1] : "stopped";
            progress.End(TaskPhase.Failed, reason);
        }

        CheckDone();
    }

    private void CheckDone()
    {
        if (_finished && _tasks.Count == 0)
        {
            Finish(_failures.Count == 0 ? 0 : 1, _failures.Count == 0 ? null : string.Join("; ", _failures));
        }
    }

    private void Finish(int exitCode, string? error)
    {
        if (_done)
        {
            return;
        }

        _done = true;
        if (exitCode == 0)
        {
            _log.Info("every task is complete");
        }
        else
        {
            _log.Error("lazy-pages failed: {Error}", error);
        }

        _restore.Completion.TrySetResult(new Messages.RestoreOutcome(exitCode, error));
        _stopHandshake.Cancel();
    }

    private sealed class Observer(IActorRef supervisor) : IRestorerObserver
    {
        public void Connected() => supervisor.Tell(Messages.RestorerConnected.Instance);

        public void TaskUffd(int pid, SafeFdHandle uffd) => supervisor.Tell(new Messages.TaskUffdReceived(pid, uffd));

        public void Zombie(int pid) => supervisor.Tell(new Messages.ZombieReceived(pid));

        public void RestoreFinished() => supervisor.Tell(Messages.RestoreFinished.Instance);

        public void Failed(string reason) => supervisor.Tell(new Messages.Fatal(reason));
    }
}
