using Akka.Actor;
using Akka.Actor.Internal;
using Akka.Event;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Restorer;
using LazyActors.Engine.Scheduling;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Actors;

/// <summary>
/// The supervisor of one restore: it runs the socket handshake (on its own thread), creates one
/// <see cref="UffdActor"/> per task and fork child plus the <see cref="PageCacheActor"/> and the
/// <see cref="BackgroundPusherActor"/>, stops only the task that fails, and completes the restore's result once every
/// task is complete (exit code 0) or on a fatal error (non-zero, with the reason).
/// </summary>
/// <remarks>
/// Phases: waiting for the restorer → receiving tasks (the handshake: one uffd per live task) → serving after
/// "restore finished" (done when the last task actor stopped) → finished (outcome set; only cleanup: descriptors that
/// still arrive are closed, failures still recorded on their task).
/// </remarks>
public sealed class RestoreSupervisor : EngineActor
{
    /// <summary>Props of the supervisor.</summary>
    /// <param name="restore">What it needs.</param>
    public static Props Props(Restore restore) => Akka.Actor.Props.Create(() => new RestoreSupervisor(restore)).WithDispatcher(EngineSettings.DispatcherId);

    /// <summary>Everything one restore needs.</summary>
    /// <param name="Settings">Tuning and paths.</param>
    /// <param name="Checkpoint">The opened images (pstree entry count, lazy ranges per pid).</param>
    /// <param name="Source">Page data.</param>
    /// <param name="Hub">Routes uffd messages to task actors.</param>
    /// <param name="Listener">The listening lazy-pages.socket; the supervisor's handshake thread owns it.</param>
    /// <param name="Statistics">Live counters.</param>
    /// <param name="Completion">Completed with the outcome.</param>
    public sealed record Restore(
        EngineSettings Settings,
        Checkpoint Checkpoint,
        IPageSource Source,
        IUffdHub Hub,
        SafeFdHandle Listener,
        EngineStatistics Statistics,
        TaskCompletionSource<RestoreOutcome> Completion) : INoSerializationVerificationNeeded;

    /// <summary>How a restore ended.</summary>
    /// <param name="ExitCode">0 when every task was completed (or exited), 1 otherwise.</param>
    /// <param name="Error">Why it failed.</param>
    public sealed record RestoreOutcome(int ExitCode, string? Error);

    /// <summary>From the handshake thread: a live task and its uffd.</summary>
    public sealed record TaskUffdReceived(int Pid, SafeFdHandle Uffd) : INoSerializationVerificationNeeded;

    /// <summary>From the handshake thread: a zombie entry.</summary>
    public sealed record ZombieReceived(int Pid) : INoSerializationVerificationNeeded;

    /// <summary>From the handshake thread: the restorer connected.</summary>
    public sealed class RestorerConnected : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly RestorerConnected Instance = new();

        private RestorerConnected()
        {
        }
    }

    /// <summary>From the handshake thread: "restore finished" arrived.</summary>
    public sealed class RestoreFinished : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly RestoreFinished Instance = new();

        private RestoreFinished()
        {
        }
    }

    /// <summary>Fatal: the handshake failed or the epoll reader died.</summary>
    public sealed record Fatal(string Reason) : INoSerializationVerificationNeeded;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Restore _restore;
    private readonly Dictionary<IActorRef, TaskProgress> _tasks = [];
    private readonly List<string> _failures = [];
    private readonly CancellationTokenSource _stopHandshake = new();
    private readonly HashSet<int> _seen = [];
    private IActorRef _cache = ActorRefs.Nobody;
    private IActorRef _pusher = ActorRefs.Nobody;
    private Thread? _handshake;
    private int _forkChildren;

    /// <summary>Use <see cref="Props"/>.</summary>
    public RestoreSupervisor(Restore restore)
    {
        ArgumentNullException.ThrowIfNull(restore);
        _restore = restore;
        WaitingForRestorer();
    }

    /// <inheritdoc />
    protected override SupervisorStrategy SupervisorStrategy() => ChildSupervision.Instance;

    /// <inheritdoc />
    protected override void PreStart()
    {
        _cache = Context.ActorOf(PageCacheActor.Props(_restore.Source, _restore.Settings, _restore.Statistics), "page-cache");
        _pusher = Context.ActorOf(BackgroundPusherActor.Props(_restore.Settings), "pusher");
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

    /// <inheritdoc />
    protected override void PostStop()
    {
        _stopHandshake.Cancel();
        _handshake?.Join(TimeSpan.FromSeconds(2));
        _stopHandshake.Dispose();
        SetOutcome(1, "the restore supervisor stopped before every task was complete");
    }

    private void WaitingForRestorer()
    {
        Receive<RestorerConnected>(_ =>
        {
            _log.Info("restorer connected, expecting {Entries} pstree entries", _restore.Checkpoint.Tasks.Count);
            _restore.Statistics.SetPhase(RestorePhase.ReceivingTasks);
            Become(ReceivingTasks);
        });
        ReceiveChildren(restoreFinished: false);
    }

    private void ReceivingTasks()
    {
        Receive<TaskUffdReceived>(OnTaskUffd);
        Receive<ZombieReceived>(z => _log.Info("pid {Pid} is a zombie: no memory to serve", z.Pid));
        Receive<RestoreFinished>(_ =>
        {
            _log.Info("restore finished; pushing the remaining pages of {Tasks} task(s)", _tasks.Count);
            foreach (var task in _tasks.Keys)
            {
                task.Tell(UffdActor.RestoreFinished.Instance);
            }

            _pusher.Tell(BackgroundPusherActor.Start.Instance);
            _restore.Statistics.SetPhase(RestorePhase.Serving);
            Become(ServingAfterRestoreFinished);
            FinishWhenNoTaskIsLeft();
        });
        ReceiveChildren(restoreFinished: false);
    }

    private void ServingAfterRestoreFinished() => ReceiveChildren(restoreFinished: true);

    private void Finished()
    {
        Receive<TaskUffdReceived>(received => received.Uffd.Dispose());
        Receive<UffdActor.ForkChildBorn>(born => born.Uffd.Dispose());
        Receive<ChildFailed>(RecordFailure);
        Receive<Terminated>(terminated => ForgetTask(terminated.ActorRef));
        ReceiveAny(_ => { });
    }

    /// <summary>What every phase before the outcome handles: the children's lives and fatal errors.</summary>
    private void ReceiveChildren(bool restoreFinished)
    {
        Receive<UffdActor.ForkChildBorn>(born => OnForkChild(born, restoreFinished));
        Receive<UffdActor.TaskEnded>(ended =>
        {
            if (ended.Phase == TaskPhase.Exited)
            {
                _log.Info("{Task}: task exited ({Reason})", ended.Label, ended.Reason);
            }
        });
        Receive<ChildFailed>(RecordFailure);
        Receive<Terminated>(terminated =>
        {
            if (terminated.ActorRef.Equals(_cache) || terminated.ActorRef.Equals(_pusher))
            {
                Finish(1, $"internal actor {terminated.ActorRef.Path.Name} stopped");
                return;
            }

            ForgetTask(terminated.ActorRef);
            if (restoreFinished)
            {
                FinishWhenNoTaskIsLeft();
            }
        });
        Receive<Fatal>(fatal => Finish(1, fatal.Reason));
    }

    /// <summary>Says once whether the fault path's scheduling requests can take effect, so a slow restore in a
    /// container without CAP_SYS_NICE is explained in the log rather than guessed at.</summary>
    private void LogScheduling(EngineSettings settings)
    {
        var wanted = settings.ReaderRealtime || settings.EngineThreadsNice is < 0 || settings.ReaderNice < 0 || settings.GatePriority != GatePriority.Off;
        if (!wanted)
        {
            return;
        }

        if (ThreadScheduling.HasCapSysNice())
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

    private void OnTaskUffd(TaskUffdReceived received)
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
        Spawn(received.Pid, _restore.Hub.Open(received.Uffd), book, progress, $"task-{label}", restoreFinished: false);
    }

    private void OnForkChild(UffdActor.ForkChildBorn born, bool restoreFinished)
    {
        _forkChildren++;
        var label = $"{born.ParentLabel}-fork{_forkChildren}";
        var progress = _restore.Statistics.AddTask(new TaskProgress(born.Pid, label, born.TotalPages, isForkChild: true));
        Spawn(born.Pid, born.Uffd, born.Book, progress, $"task-{label}", restoreFinished);
    }

    private void Spawn(int pid, IUffd uffd, TaskRangeBook book, TaskProgress progress, string name, bool restoreFinished)
    {
        var spec = new UffdActor.TaskSpec(pid, uffd, book, progress, restoreFinished);
        var child = Context.ActorOf(UffdActor.Props(spec, _cache, _pusher, _restore.Hub, _restore.Settings, _restore.Source, _restore.Statistics), name);
        Context.Watch(child);
        _tasks.Add(child, progress);
        _pusher.Tell(new BackgroundPusherActor.AddTask(child));
    }

    /// <summary>A child failed (told by <see cref="ChildSupervision"/> before it stops the child): the reason is kept
    /// with that child's task, so two tasks failing at once each keep their own.</summary>
    private void RecordFailure(ChildFailed failed)
    {
        var reason = ChildSupervision.Describe(failed.Cause);
        _failures.Add(reason);
        _log.Error("{Child} failed and is no longer served: {Failure}", failed.Child.Path.Name, reason);
        if (_tasks.TryGetValue(failed.Child, out var progress))
        {
            progress.End(TaskPhase.Failed, reason);
        }
    }

    /// <summary>A task actor stopped; one that stopped without ending or failing is recorded as such.</summary>
    private void ForgetTask(IActorRef task)
    {
        if (_tasks.Remove(task, out var progress) && progress.Phase == TaskPhase.Serving)
        {
            progress.End(TaskPhase.Failed, "stopped");
        }
    }

    private void FinishWhenNoTaskIsLeft()
    {
        if (_tasks.Count == 0)
        {
            Finish(_failures.Count == 0 ? 0 : 1, _failures.Count == 0 ? null : string.Join("; ", _failures));
        }
    }

    private void Finish(int exitCode, string? error)
    {
        SetOutcome(exitCode, error);
        Become(Finished);
        _stopHandshake.Cancel();
    }

    /// <summary>Completes the restore's result unless it already was (by this actor, or by cancellation).</summary>
    private void SetOutcome(int exitCode, string? error)
    {
        if (!_restore.Completion.TrySetResult(new RestoreOutcome(exitCode, error)))
        {
            return;
        }

        _restore.Statistics.SetPhase(exitCode == 0 ? RestorePhase.Completed : RestorePhase.Failed);

        if (exitCode == 0)
        {
            _log.Info("every task is complete");
        }
        else
        {
            _log.Error("lazy-pages failed: {Error}", error);
        }
    }

    /// <summary>A child failed; the supervisor records it in its own state (sent by <see cref="ChildSupervision"/>).</summary>
    private sealed record ChildFailed(IActorRef Child, Exception Cause) : INoSerializationVerificationNeeded;

    /// <summary>
    /// The strategy for a restore's children, one instance for all (akka.net's Tcp.ConnectionSupervisorStrategy style).
    /// Every failure stops only the failing child: a task's irrecoverable uffd or page-source error
    /// (<see cref="TaskFailedException"/>) ends that task and the others go on; anything else is a bug, and the child
    /// is stopped too (the page cache or pusher stopping ends the restore). Failures are not logged here: the strategy
    /// tells the supervisor, which records the reason with that child's task and logs it in one line.
    /// </summary>
    private sealed class ChildSupervision : OneForOneStrategy
    {
        public static readonly ChildSupervision Instance = new();

        private ChildSupervision()
            : base(Decide, loggingEnabled: false)
        {
        }

        /// <summary>The reason recorded for <paramref name="cause"/>.</summary>
        public static string Describe(Exception cause) => cause switch
        {
            TaskFailedException failed => failed.Message,
            _ => $"internal error: {cause}",
        };

        /// <inheritdoc />
        public override void ProcessFailure(IActorContext context, bool restart, IActorRef child, Exception cause,
            ChildRestartStats stats, IReadOnlyCollection<ChildRestartStats> children)
        {
            // Runs on the supervisor's thread before the child is stopped, so the supervisor reads this before the
            // child's Terminated.
            context.Self.Tell(new ChildFailed(child, cause));
            base.ProcessFailure(context, restart, child, cause, stats, children);
        }

        private static Directive Decide(Exception cause) => cause switch
        {
            TaskFailedException => Directive.Stop,          // the task's own uffd or page data failed: stop that task only
            PageDataUnavailableException => Directive.Stop, // a page source refused data outside the fetch path: the same
            _ => Directive.Stop,                            // a bug: stop the child rather than restart it with lost state
        };
    }

    private sealed class Observer(IActorRef supervisor) : IRestorerObserver
    {
        public void Connected() => supervisor.Tell(RestorerConnected.Instance);

        public void TaskUffd(int pid, SafeFdHandle uffd) => supervisor.Tell(new TaskUffdReceived(pid, uffd));

        public void Zombie(int pid) => supervisor.Tell(new ZombieReceived(pid));

        public void RestoreFinished() => supervisor.Tell(RestoreSupervisor.RestoreFinished.Instance);

        public void Failed(string reason) => supervisor.Tell(new Fatal(reason));
    }
}
