using Akka.Actor;
using Akka.Actor.Internal;
using Akka.Event;
using LazyActors.Engine.Actors.Remote;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.CrashSafety;
using LazyActors.Engine.Faults;
using LazyActors.Engine.Diagnostics;
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
/// <para>Phases: waiting for the restorer → receiving tasks (the handshake: one uffd per live task) → serving after
/// "restore finished" (done when the last task actor stopped) → [remote: closing the page-server session] → finished
/// (outcome set; only cleanup: descriptors that still arrive are closed, failures still recorded on their task).</para>
/// <para>A remote restore also has a <see cref="RemoteFetchActor"/> (the page source). The supervisor follows the
/// restored tree's host pids in every restore (<see cref="RestoredTree"/>, resolved while the handshake runs). Whenever
/// it gives the restore up with tasks still served (the fetcher gave the source up, an exception inside the supervisor,
/// an internal actor stopped, the handshake or the epoll reader failed) it asks every task what it still lacks, stops
/// the tree (SIGKILL by default: <c>remote.stop-signal</c> for a remote restore, <c>crash-safety.stop-signal</c> for a
/// local one) before any uffd is closed, and ends with exit code 1 naming the tasks and ranges not served: once the
/// daemon lets its uffds go, a task left running would read zeros where its pages were never copied.</para>
/// </remarks>
public sealed class RestoreSupervisor : EngineActor, IWithTimers
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
    /// <param name="Remote">The remote page source, when the pages are fetched from a page server; null for local images.</param>
    /// <param name="ListeningSince">When the socket began listening (<see cref="ProcFs.NowTicks"/>): the restored tree's
    /// processes all start later (see <see cref="RestoredTree"/>); 0 = unknown.</param>
    /// <param name="Journal">The crash journal (a guardian holds what it is sent), or null.</param>
    /// <param name="Resume">What a dead daemon journalled, when this restore continues its restore; then
    /// <paramref name="Listener"/> is the journalled socket (invalid once the restorer had been accepted).</param>
    public sealed record Restore(
        EngineSettings Settings,
        Checkpoint Checkpoint,
        IPageSource Source,
        IUffdHub Hub,
        SafeFdHandle Listener,
        EngineStatistics Statistics,
        TaskCompletionSource<RestoreOutcome> Completion,
        RemoteSource? Remote = null,
        ulong ListeningSince = 0,
        CrashJournal? Journal = null,
        ResumeState? Resume = null) : INoSerializationVerificationNeeded
    {
        /// <summary>The restore's fault injector (tests only); null = no injection point does anything.</summary>
        public FaultInjector? Faults { get; init; }

        /// <summary>The background priority of the restore's uffds and second copier over time, moved on by "restore
        /// finished" and the restorer's exit; null: the hub's priorities do not depend on the restorer.</summary>
        public BackgroundPriorityPhases? BackgroundPhases { get; init; }
    }

    /// <summary>Where a remote restore's pages come from.</summary>
    /// <param name="Endpoint">The page server.</param>
    /// <param name="Probe">A page it holds (checks a second connection), or null.</param>
    /// <param name="Source">The page source the fetcher serves (also <see cref="Restore.Source"/>).</param>
    public sealed record RemoteSource(Protocol.Client.PageServerEndpoint Endpoint, ProbePage? Probe, RemotePageSource Source) : INoSerializationVerificationNeeded
    {
        /// <summary>The fetcher of another transport (the Akka one: <see cref="AkkaFetchActor"/>), made from the source it
        /// serves and the counters; null: <see cref="RemoteFetchActor"/> on <see cref="Endpoint"/> (CRIU's protocol).</summary>
        public Func<RemotePageSource, RemoteStatistics, Props>? Fetcher { get; init; }

        /// <summary>The parent of a fetcher that other restores share (the service's page cache reads
        /// <see cref="Source"/>, <see cref="SharedFetchActor"/>): this restore subscribes to it and has no fetcher, nor a
        /// session to close, of its own; null: the restore's own fetcher.</summary>
        public IActorRef? Shared { get; init; }
    }

    /// <summary>How a restore ended.</summary>
    /// <param name="ExitCode">0 when every task was completed (or exited), 1 otherwise.</param>
    /// <param name="Error">Why it failed.</param>
    public sealed record RestoreOutcome(int ExitCode, string? Error);

    /// <summary>From the handshake thread: a live task and its uffd (and its host pid, when it was resolved).</summary>
    public sealed record TaskUffdReceived(int Pid, SafeFdHandle Uffd, int? HostPid = null) : INoSerializationVerificationNeeded;

    /// <summary>From the handshake thread: a zombie entry.</summary>
    public sealed record ZombieReceived(int Pid) : INoSerializationVerificationNeeded;

    /// <summary>From the handshake thread: the restorer (host pid <paramref name="RestorerPid"/>, 0 if unknown) connected;
    /// <paramref name="Tree"/> follows the restored processes (null when the restorer is not visible from here).</summary>
    public sealed record RestorerConnected(int RestorerPid, RestoredTree? Tree) : INoSerializationVerificationNeeded;

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
    private readonly Dictionary<IActorRef, string> _stoppedFailedTasks = [];
    private ChildSupervision? _strategy;
    private readonly List<string> _failures = [];
    private readonly CancellationTokenSource _stopHandshake = new();
    private readonly HashSet<int> _seen = [];
    private IActorRef _cache = ActorRefs.Nobody;
    private IActorRef _pusher = ActorRefs.Nobody;
    private IActorRef _fetcher = ActorRefs.Nobody;
    private Thread? _handshake;
    private int _forkChildren;
    private RestoredTree? _tree;
    private bool _restorerConnected;
    private bool _lateTreeStopped;
    private int _tasksReceived;
    private bool _givingUp;

    /// <summary>Use <see cref="Props"/>.</summary>
    public RestoreSupervisor(Restore restore)
    {
        ArgumentNullException.ThrowIfNull(restore);
        _restore = restore;
        WaitingForRestorer();
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <inheritdoc />
    protected override SupervisorStrategy SupervisorStrategy() => _strategy ??= new ChildSupervision(StopFailedTask);

    /// <inheritdoc />
    protected override void PreStart()
    {
        if (_restore.Remote is { Shared: { } shared })
        {
            shared.Tell(SharedFetchActor.Subscribe.Instance);
        }
        else if (_restore.Remote is { } remote)
        {
            // First, so the connection is made while the restorer is still on its way.
            var fetcher = remote.Fetcher?.Invoke(remote.Source, _restore.Statistics.Remote)
                ?? RemoteFetchActor.Props(remote.Endpoint, _restore.Settings.Remote, remote.Probe, remote.Source, _restore.Settings.EngineThreadsNice, _restore.Statistics.Remote, _restore.Faults);
            _fetcher = Context.ActorOf(fetcher, "remote-fetch");
            remote.Source.Bind(_fetcher);
            Context.Watch(_fetcher);
        }

        _cache = Context.ActorOf(PageCacheActor.Props(_restore.Source, _restore.Settings, _restore.Statistics, _restore.Faults), "page-cache");
        _pusher = Context.ActorOf(BackgroundPusherActor.Props(_restore.Settings, _restore.Faults), "pusher");
        Context.Watch(_cache);
        Context.Watch(_pusher);

        LogScheduling(_restore.Settings);
        var observer = new Observer(Self, _log, _restore.ListeningSince, _restore.Journal) { BackgroundPhases = _restore.BackgroundPhases };
        var entries = _restore.Checkpoint.Tasks.Count;
        var listener = _restore.Listener;
        var settings = _restore.Settings;
        var token = _stopHandshake.Token;
        Action handshake = () => RestorerConnection.Run(listener, entries, settings.AcceptTimeout, settings.HandshakeTimeout, settings.RestorerAllowedUids, observer, token);
        if (_restore.Resume is { } resume)
        {
            listener.Dispose();
            if (!TakeOver(resume, out var connection))
            {
                return;
            }

            if (connection is null)
            {
                if (resume.TakeListener() is not { } resumedListener)
                {
                    Finish(1, "cannot resume the dead daemon's restore: the journal holds neither lazy-pages.socket nor the restorer's connection");
                    return;
                }

                handshake = () => RestorerConnection.Run(resumedListener, entries, settings.AcceptTimeout, settings.HandshakeTimeout, settings.RestorerAllowedUids, observer, token);
            }
            else
            {
                handshake = () => RestorerConnection.Resume(connection, entries, resume.EntriesDone, resume.LastZombie, settings.HandshakeTimeout, observer, token);
            }
        }

        _handshake = new Thread(() =>
        {
            // It accepts the restorer, which must never wait for a thread held below it (start-up-below-restorer).
            Scheduling.StartUpPriority.ExemptCallingThread();
            handshake();
        })
        {
            IsBackground = true,
            Name = "lazy-pages-handshake",
        };
        _handshake.Start();
        StartupTrace.Mark(StartupStep.SupervisorStarted);
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
        Receive<RestorerConnected>(connected =>
        {
            _tree = connected.Tree;
            _restorerConnected = true;
            _log.Info("restorer connected (pid {RestorerPid}), expecting {Entries} pstree entries", connected.RestorerPid, _restore.Checkpoint.Tasks.Count);
            _restore.Statistics.SetPhase(RestorePhase.ReceivingTasks);
            Become(ReceivingTasks);
        });
        ReceiveChildren(restoreFinished: false);
    }

    private void ReceivingTasks()
    {
        Receive<TaskUffdReceived>(OnTaskUffd);
        Receive<ZombieReceived>(OnZombie);
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

    /// <summary>The outcome is known; the page-server session is being closed (PS_IOV_CLOSE and its status).</summary>
    private void ClosingSource(int exitCode, string? error)
    {
        Receive<RemoteFetchActor.Closed>(closed =>
        {
            Timers.Cancel(CloseTimer);
            if (!closed.Confirmed)
            {
                _log.Warning("the page-server session was not closed cleanly: {Error}", closed.Error);
            }

            Complete(exitCode, error);
        });
        Receive<CloseTimedOut>(_ =>
        {
            _log.Warning("the page-server session did not close within {Seconds} s", CloseWait(_restore.Settings).TotalSeconds);
            Complete(exitCode, error);
        });
        ReceiveLateArrivals();
        Receive<ChildFailed>(RecordFailure);
        Receive<Terminated>(terminated =>
        {
            if (terminated.ActorRef.Equals(_fetcher))
            {
                Complete(exitCode, error);
                return;
            }

            ForgetTask(terminated.ActorRef);
        });
        ReceiveAny(_ => { });
    }

    /// <summary>
    /// The page source was given up: every task says what it still lacks (bounded wait), then the tree is stopped, then
    /// the restore ends with exit code 1. No task actor closes its uffd before the tree is stopped.
    /// </summary>
    private void StoppingTree(string cause, Dictionary<IActorRef, UffdActor.Unserved?> reports)
    {
        Receive<UffdActor.Unserved>(unserved =>
        {
            if (reports.ContainsKey(Sender))
            {
                reports[Sender] = unserved;
            }

            if (reports.Values.All(r => r is not null))
            {
                StopTreeAndFinish(cause, reports);
            }
        });
        Receive<ReportsTimedOut>(_ => StopTreeAndFinish(cause, reports));
        // Before the tree is stopped a late restorer only records its tree (StopTreeAndFinish stops it); a late uffd
        // is let go once that stop is done (its task is in the tree).
        Receive<RestorerConnected>(connected =>
        {
            _tree = connected.Tree;
            _restorerConnected = true;
        });
        Receive<TaskUffdReceived>(received => received.Uffd.Dispose());
        Receive<UffdActor.ForkChildBorn>(born => born.Uffd.Dispose());
        Receive<ChildFailed>(RecordFailure);
        Receive<Terminated>(terminated =>
        {
            if (reports.TryGetValue(terminated.ActorRef, out var report) && report is null)
            {
                reports.Remove(terminated.ActorRef);
                if (reports.Values.All(r => r is not null))
                {
                    StopTreeAndFinish(cause, reports);
                    return;
                }
            }

            ForgetTask(terminated.ActorRef);
        });
        ReceiveAny(_ => { });
    }

    private void Finished()
    {
        ReceiveLateArrivals();
        Receive<ChildFailed>(RecordFailure);
        Receive<Terminated>(terminated => ForgetTask(terminated.ActorRef));
        ReceiveAny(_ => { });
    }

    /// <summary>
    /// The restore has ended (or is closing its source) when a restorer connects or hands over a task: the handshake
    /// may be past its accept when the end comes. Such a task's uffd is not served; let go, it would leave the task
    /// reading zeros where the checkpoint has data, so the restorer's tree is stopped first (the handshake reported it
    /// on connect).
    /// </summary>
    private void ReceiveLateArrivals()
    {
        Receive<RestorerConnected>(connected =>
        {
            _tree = connected.Tree;
            _restorerConnected = true;
            StopLateTree($"the restorer (pid {connected.RestorerPid}) connected");
        });
        Receive<TaskUffdReceived>(received =>
        {
            StopLateTree($"the restorer handed over task {received.Pid}");
            received.Uffd.Dispose();
        });
        // A fork child's uffd comes from a task this daemon served: its tree is already stopped if the restore failed.
        Receive<UffdActor.ForkChildBorn>(born => born.Uffd.Dispose());
    }

    private void StopLateTree(string what)
    {
        if (_lateTreeStopped)
        {
            return;
        }

        _lateTreeStopped = true;
        if (_tree is not { } tree)
        {
            _log.Error("{What} after the restore had ended, and its tree cannot be stopped: the restorer's pid is unknown", what);
            return;
        }

        var signal = _restore.Remote is null ? _restore.Settings.CrashSafety.StopSignal : _restore.Settings.Remote.StopSignal;
        var result = tree.Stop((int)signal, TimeSpan.FromSeconds(5));
        _log.Error("{What} after the restore had ended: its tree is stopped ({Stopped}) before any uffd is let go, so no task reads zeros", what, result);
    }

    /// <summary>What every phase before the outcome handles: the children's lives and fatal errors.</summary>
    private void ReceiveChildren(bool restoreFinished)
    {
        Receive<UffdActor.ForkChildBorn>(born => OnForkChild(born, restoreFinished));
        Receive<UffdActor.TaskEnded>(ended =>
        {
            InjectAtTaskEnd();
            if (ended.Phase == TaskPhase.Exited)
            {
                _log.Info("{Task}: task exited ({Reason})", ended.Label, ended.Reason);
            }
            else if (ended.Phase == TaskPhase.Failed)
            {
                _failures.Add(ended.Reason ?? $"{ended.Label} failed");
                _log.Error("{Task}: {Failure}", ended.Label, ended.Reason);
            }
        });
        Receive<ChildFailed>(RecordFailure);
        Receive<ChildRestarted>(RecordRestart);
        // Tasks may already be served when the first contact fails (the Akka fetcher looks its source up when the restorer
        // connects; a source killed right then never answers): their tree is stopped before the uffds are let go, or
        // they would read zeros where the source had data (a rerun of AkkaTransportCommandTests, lead90).
        Receive<RemoteFetchActor.ConnectFailed>(failed => GiveUpOrFinish($"cannot connect to the page server {failed.Peer}: {failed.Reason}"));
        Receive<RemoteFetchActor.SourceLost>(OnSourceLost);
        Receive<Terminated>(terminated =>
        {
            if (terminated.ActorRef.Equals(_cache) || terminated.ActorRef.Equals(_pusher) || terminated.ActorRef.Equals(_fetcher))
            {
                GiveUpOrFinish($"internal actor {terminated.ActorRef.Path.Name} stopped");
                return;
            }

            ForgetTask(terminated.ActorRef);
            if (restoreFinished)
            {
                FinishWhenNoTaskIsLeft();
            }
        });
        Receive<Fatal>(fatal => GiveUpOrFinish(fatal.Reason));
    }

    /// <summary>A fatal error: with tasks still served the restore is given up (their tree stopped before any uffd is
    /// let go); with none, there is nothing to stop and the restore simply ends (a task handed over after that has its
    /// tree stopped then: <see cref="ReceiveLateArrivals"/>).</summary>
    private void GiveUpOrFinish(string cause)
    {
        if (_tasks.Count == 0)
        {
            Finish(1, cause);
            return;
        }

        _givingUp = true;
        GiveUp(cause);
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

        if (SchedulingGrants.DescribeRefusals() is not { } refused)
        {
            _log.Info("scheduling: reader {Reader}, engine threads nice {Nice}, gate priority {Gate}, background {Background}",
                settings.ReaderRealtime ? "SCHED_FIFO 1" : $"nice {settings.ReaderNice}",
                settings.EngineThreadsNice?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unchanged",
                settings.GatePriority.ToString().ToLowerInvariant(),
                settings.BackgroundPriorityWhileRestorerRuns is { } early && early != settings.BackgroundPriority
                    ? $"{early.ToString().ToLowerInvariant()} until the restorer has gone (at most {settings.RestorerExitWait.TotalMilliseconds:0} ms), then {settings.BackgroundPriority.ToString().ToLowerInvariant()}"
                    : settings.BackgroundPriority.ToString().ToLowerInvariant());
        }
        else
        {
            _log.Warning("scheduling: {Refused}, so what it refuses stays at normal priority (the reader, the engine threads, copies); on a machine the restored tasks keep busy, faults may wait a scheduler tick or more (run as root or grant CAP_SYS_NICE)", refused);
        }
    }

    /// <summary>
    /// A successor takes over a dead daemon's restore: every uffd it had (each woken, so a thread whose fault the dead
    /// daemon read but never served faults again), with its book rebuilt from the journal, and the handshake where it
    /// stood. Returns false when nothing is left to wait for (the restore is then finishing); <paramref name="connection"/>
    /// is the restorer's connection when the handshake must go on from it.
    /// </summary>
    private bool TakeOver(ResumeState resume, out SafeFdHandle? connection)
    {
        connection = null;
        IReadOnlyList<ReplayedUffd> replayed;
        try
        {
            replayed = JournalReplay.Rebuild(resume, _restore.Checkpoint);
        }
        catch (InvalidDataException ex)
        {
            Finish(1, $"cannot resume the dead daemon's restore: {ex.Message}");
            return false;
        }

        foreach (var zombie in resume.Zombies)
        {
            _seen.Add(zombie);
        }

        _log.Info("resuming after {Restarts} daemon death(s): {Uffds} uffd(s) in the journal, {Entries} of {Total} pstree entries received, restore finished: {Finished}",
            resume.Restarts, replayed.Count, resume.EntriesDone, _restore.Checkpoint.Tasks.Count, resume.Finished);
        foreach (var task in replayed)
        {
            if (!task.IsForkChild)
            {
                _seen.Add(task.Pid);
                _tasksReceived++;
            }

            if (task.IsForkChild)
            {
                _forkChildren++;
            }

            if (task.EndedPhase is { } phase)
            {
                if (phase == (int)TaskPhase.Failed)
                {
                    _failures.Add($"{task.Label} (before the daemon restart): {task.EndReason}");
                }

                continue;
            }

            var descriptor = resume.TakeDescriptor(task.Id);
            if (descriptor is null)
            {
                _failures.Add($"{task.Label}: the guardian no longer held its uffd");
                continue;
            }

            if (FaultWaker.WakeAll(descriptor) is { } wakeProblem)
            {
                _log.Warning("{Task}: {Problem}", task.Label, wakeProblem);
            }

            _restore.Journal?.Expect(descriptor.Fd, task.Id);
            IUffd uffd;
            try
            {
                uffd = _restore.Hub.Open(descriptor);
            }
            catch (InvalidDataException ex)
            {
                _failures.Add($"{task.Label}: its journalled uffd cannot be served: {ex.Message}");
                continue;
            }

            _log.Info("{Task}: taken over, {Pending} of {Total} lazy pages still pending ({Copied} copied before)", task.Label, task.Book.Pending.TotalPages, task.Book.TotalPages, task.Book.CopiedPages);
            var progress = _restore.Statistics.AddTask(new TaskProgress(task.Pid, task.Label, (long)task.Book.TotalPages, isForkChild: task.IsForkChild));
            var spec = new UffdActor.TaskSpec(task.Pid, uffd, task.Book, progress, resume.Finished)
            {
                Boundaries = task.Boundaries,
                RegistrationChecks = resume.Finished ? [] : task.RegistrationChecks,
                Journal = _restore.Journal,
                JournalId = _restore.Hub.JournalIdOf(uffd),
            };
            Spawn(spec, $"task-{task.Label}");
        }

        if (resume.RestorerPid > 0)
        {
            _tree = RestoredTree.Attach(resume.RestorerPid, resume.ListeningSince > 0 ? resume.ListeningSince : null);
            foreach (var pid in _seen)
            {
                _tree?.Resolve(pid);
            }
        }

        if (resume.Finished)
        {
            _log.Info("restore finished before the restart; pushing the remaining pages of {Tasks} task(s)", _tasks.Count);
            // Whether the restorer is still there is not watched after a restart: the push takes its full priority.
            _restore.BackgroundPhases?.RestorerHasGone();
            _pusher.Tell(BackgroundPusherActor.Start.Instance);
            _restore.Statistics.SetPhase(RestorePhase.Serving);
            Become(ServingAfterRestoreFinished);
            resume.TakeConnection()?.Dispose();
            FinishWhenNoTaskIsLeft();
            return false;
        }

        connection = resume.TakeConnection();
        if (connection is not null)
        {
            _restore.Statistics.SetPhase(RestorePhase.ReceivingTasks);
            Become(ReceivingTasks);
        }

        return true;
    }

    private void OnTaskUffd(TaskUffdReceived received)
    {
        if (CheckedPid(received.Pid, zombie: false) is not { } images)
        {
            received.Uffd.Dispose();
            return;
        }

        IUffd uffd;
        try
        {
            uffd = _restore.Hub.Open(received.Uffd);
        }
        catch (InvalidDataException ex)
        {
            Finish(1, $"the restorer sent pid {received.Pid} a descriptor the daemon cannot serve: {ex.Message}");
            return;
        }

        var book = new TaskRangeBook();
        foreach (var range in images.LazyRanges)
        {
            book.AddLazy(range.Start, range.End, range.Start);
        }

        _tasksReceived++;
        var label = received.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var progress = _restore.Statistics.AddTask(new TaskProgress(received.Pid, label, (long)book.TotalPages, isForkChild: false));
        if (_tree is not null)
        {
            _log.Info("{Task}: uffd received, {LazyPages} lazy pages in {Ranges} ranges; host pid {HostPid}", label, book.TotalPages, book.Pending.Count,
                received.HostPid?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "not found");
        }
        else
        {
            _log.Info("{Task}: uffd received, {LazyPages} lazy pages in {Ranges} ranges", label, book.TotalPages, book.Pending.Count);
        }

        if (!uffd.ReportsMemoryChanges)
        {
            _log.Warning("{Task}: its userfaultfd does not report unmap/remap/madvise events (old kernel?): a page that vanishes cannot be told from a lost one, so such pages are dropped as CRIU does", label);
        }

        var spec = new UffdActor.TaskSpec(received.Pid, uffd, book, progress, RestoreFinished: false)
        {
            Boundaries = new VmaBoundaries(images.Vmas.SelectMany(v => new[] { v.Start, v.End })),
            HostPid = received.HostPid,
            RegistrationChecks = images.FirstLazyPageOfEachVma(),
            Journal = _restore.Journal,
            JournalId = _restore.Hub.JournalIdOf(uffd),
        };
        Spawn(spec, $"task-{label}");
    }

    private void OnZombie(ZombieReceived received)
    {
        if (CheckedPid(received.Pid, zombie: true) is not null)
        {
            _log.Info("pid {Pid} is a zombie: no memory to serve", received.Pid);
        }
    }

    /// <summary>
    /// The images of a pid the restorer sent, if it may send it: in pstree.img, not sent before, and a zombie exactly
    /// when the restorer says so (a zombie has no memory; a live task announced as a zombie would never be served).
    /// Otherwise the restore ends with the reason, and null is returned.
    /// </summary>
    private TaskImages? CheckedPid(int pid, bool zombie)
    {
        var pstree = $"{_restore.Checkpoint.Directory}/pstree.img";
        string? problem = null;
        if (!_restore.Checkpoint.TryGetTask(pid, out var images))
        {
            problem = $"the restorer sent {(zombie ? "zombie " : "")}pid {pid}, which is not in {pstree}";
        }
        else if (!_seen.Add(pid))
        {
            problem = $"the restorer sent pid {pid} twice";
        }
        else if (zombie && images.State != TaskState.Dead)
        {
            problem = $"the restorer says pid {pid} is a zombie, but it is a live task in {pstree} (core-{pid}.img task_state {images.State}) with {images.LazyPages} lazy pages";
        }
        else if (!zombie && images.State == TaskState.Dead)
        {
            problem = $"the restorer sent a userfaultfd for pid {pid}, a zombie in {pstree} (core-{pid}.img task_state Dead)";
        }

        if (problem is null)
        {
            return images;
        }

        Finish(1, problem);
        return null;
    }

    private void OnForkChild(UffdActor.ForkChildBorn born, bool restoreFinished)
    {
        _forkChildren++;
        var label = $"{born.ParentLabel}-fork{_forkChildren}";
        var progress = _restore.Statistics.AddTask(new TaskProgress(born.Pid, label, born.TotalPages, isForkChild: true));
        Spawn(new UffdActor.TaskSpec(born.Pid, born.Uffd, born.Book, progress, restoreFinished)
        {
            Boundaries = born.Boundaries,
            Journal = _restore.Journal,
            JournalId = _restore.Hub.JournalIdOf(born.Uffd),
        }, $"task-{label}");
    }

    private void Spawn(UffdActor.TaskSpec spec, string name)
    {
        var progress = spec.Progress;
        var child = Context.ActorOf(UffdActor.Props(spec, _cache, _pusher, _restore.Hub, _restore.Settings, _restore.Source, _restore.Statistics, _restore.Faults), name);
        Context.Watch(child);
        _tasks.Add(child, progress);
        _pusher.Tell(new BackgroundPusherActor.AddTask(child));
    }

    /// <summary>
    /// A task actor is about to be stopped for good (its own uffd or page data failed, or it kept throwing): once it
    /// stops, its uffd is closed and every page it still lacks would read as zeros in a process that runs on. So the
    /// task's process is stopped first, with the tree's stop signal, when its host pid is known and it still lacks
    /// pages; the other tasks go on being served. Runs on this actor's thread, before the child's stop is requested.
    /// </summary>
    private void StopFailedTask(IActorRef child)
    {
        if (!_tasks.TryGetValue(child, out var task) || _tree is not { } tree
            || task.CopiedPages + task.DroppedPages >= task.TotalPages)
        {
            return;
        }

        var signal = _restore.Remote is null ? _restore.Settings.CrashSafety.StopSignal : _restore.Settings.Remote.StopSignal;
        if (tree.StopTask(task.Pid, (int)signal) is { } hostPid)
        {
            var what = $"its process (host pid {hostPid}) was sent signal {(int)signal} before its uffd was closed, "
                + $"{task.TotalPages - task.CopiedPages - task.DroppedPages} page(s) short, so it never runs on zero-filled memory";
            _stoppedFailedTasks[child] = what;
            _log.Warning("{Task}: {Stopped}", task.Label, what);
        }
    }

    /// <summary>A child failed (told by <see cref="ChildSupervision"/> before it stops the child): the reason is kept
    /// with that child's task, so two tasks failing at once each keep their own.</summary>
    private void RecordFailure(ChildFailed failed)
    {
        var reason = ChildSupervision.Describe(failed.Cause);
        if (_tasks.TryGetValue(failed.Child, out var task) && !reason.StartsWith("task ", StringComparison.Ordinal))
        {
            reason = $"task {task.Label}: {reason}";
        }

        if (_stoppedFailedTasks.Remove(failed.Child, out var stopped))
        {
            reason = $"{reason}; {stopped}";
        }

        _failures.Add(reason);
        _log.Error("{Child} failed and is no longer served: {Failure}", failed.Child.Path.Name, reason);
        if (failed.Cause is not TaskFailedException)
        {
            _log.Debug("{Child} failed with {Exception}", failed.Child.Path.Name, failed.Cause);
        }

        if (_tasks.TryGetValue(failed.Child, out var progress))
        {
            progress.End(TaskPhase.Failed, reason);
            InjectAtTaskEnd();
        }
    }

    /// <summary>The <c>actor.supervisor</c> fault point: the supervisor throws as it takes a task's end, whether the task
    /// reported it (TaskEnded) or failed (ChildFailed), so tests reach the supervisor's restart either way.</summary>
    private void InjectAtTaskEnd() =>
        _restore.Faults?.ThrowIfFires(FaultPoint.SupervisorThrows, "the restore supervisor (a task's end)");

    /// <summary>A child threw and is restarted: counted and logged; its work in flight is re-issued by the new instance.</summary>
    private void RecordRestart(ChildRestarted restarted)
    {
        var name = restarted.Child.Path.Name;
        _restore.Statistics.CountActorRestart(name.StartsWith("task-", StringComparison.Ordinal) ? "task" : name);
        _log.Warning("{Child} threw and is restarted with its work in flight re-issued: {Failure}", name, ChildSupervision.Describe(restarted.Cause));
        _log.Debug("{Child} threw {Exception}", name, restarted.Cause);
    }

    /// <summary>
    /// An exception inside the supervisor itself: its own bookkeeping (tasks, phase, failures) can no longer be trusted,
    /// and it is the one actor nobody can restart without losing the handshake and every task. The restore is given up
    /// the way a lost source is: every task reports what it lacks, the tree is stopped (local or remote), and the
    /// error names the cause, the tasks and their ranges (exit code 1). Once the outcome is set nothing is left to save,
    /// and a later exception is only logged.
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception ex) when (ex is not ActorKilledException)
        {
            var cause = $"internal error in the restore supervisor handling {message.GetType().Name}: {ex.GetType().Name}: {ex.Message}";
            _failures.Add(cause);
            if (_restore.Completion.Task.IsCompleted || _givingUp)
            {
                _log.Error("{Cause} (after the outcome)", cause);
                return true;
            }

            _givingUp = true;
            GiveUp(cause);
            return true;
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
        _stopHandshake.Cancel();
        if (!_fetcher.IsNobody())
        {
            // CRIU's daemon always ends the session (the source `criu dump` then ends too); bounded.
            Become(() => ClosingSource(exitCode, error));
            _fetcher.Tell(RemoteFetchActor.Close.Instance);
            Timers.StartSingleTimer(CloseTimer, CloseTimedOut.Instance, CloseWait(_restore.Settings));
            return;
        }

        Complete(exitCode, error);
    }

    private void Complete(int exitCode, string? error)
    {
        SetOutcome(exitCode, error);
        Become(Finished);
    }

    private static TimeSpan CloseWait(EngineSettings settings) => (settings.Remote.CloseTimeout * 2) + TimeSpan.FromSeconds(1);

    private void OnSourceLost(RemoteFetchActor.SourceLost lost) =>
        GiveUp($"page server {lost.Peer} given up after {lost.Waited.TotalSeconds:0.###} s: {lost.Reason}");

    /// <summary>
    /// The restore cannot go on (<paramref name="cause"/>): every task says what it still lacks (bounded wait), the tree
    /// is stopped (a task left running would read zeros once the uffds are let go), and the restore ends with exit code 1
    /// naming the cause, the tasks and ranges.
    /// </summary>
    private void GiveUp(string cause)
    {
        _stopHandshake.Cancel();
        var reports = _tasks.Keys.ToDictionary(t => t, _ => (UffdActor.Unserved?)null);
        _log.Error("{Cause}; asking {Tasks} task(s) what they lack, then stopping the restored tree", cause, reports.Count);
        Become(() => StoppingTree(cause, reports));
        if (reports.Count == 0)
        {
            StopTreeAndFinish(cause, reports);
            return;
        }

        foreach (var task in reports.Keys)
        {
            task.Tell(UffdActor.ReportUnserved.Instance);
        }

        Timers.StartSingleTimer(ReportsTimer, ReportsTimedOut.Instance, TimeSpan.FromSeconds(2));
    }

    private void StopTreeAndFinish(string cause, Dictionary<IActorRef, UffdActor.Unserved?> reports)
    {
        Timers.Cancel(ReportsTimer);
        string stopped;
        if (_tree is { } tree)
        {
            var signal = _restore.Remote is null ? _restore.Settings.CrashSafety.StopSignal : _restore.Settings.Remote.StopSignal;
            var result = tree.Stop((int)signal, TimeSpan.FromSeconds(5));
            stopped = result.ToString();
        }
        else
        {
            stopped = _tasksReceived == 0
                ? "no restored process to stop (the restorer had not connected)"
                : "the restored tree could not be stopped: the restorer's pid is unknown (not visible from this pid namespace)";
        }

        var missing = new List<string>();
        foreach (var (task, report) in reports)
        {
            if (report is null)
            {
                missing.Add($"task {task.Path.Name.Replace("task-", string.Empty, StringComparison.Ordinal)}: did not answer");
            }
            else if (report.Pages > 0)
            {
                missing.Add(DescribeUnserved(report));
            }
        }

        var notReceived = _restore.Checkpoint.Tasks.Count - _tasksReceived - _restore.Checkpoint.Tasks.Count(t => t.State == TaskState.Dead);
        if (notReceived > 0 && _restorerConnected)
        {
            missing.Add($"{notReceived} task(s) of pstree.img never handed over by the restorer");
        }

        var error = $"{cause}; {stopped}; "
            + (missing.Count == 0 ? "no task lacked pages" : $"not served: {string.Join("; ", missing)}");
        _log.Error("{Error}", error);
        Complete(1, error);
    }

    private string DescribeUnserved(UffdActor.Unserved report)
    {
        var host = _tree?.HostPidOf(report.Pid) is { } hostPid ? $" (host pid {hostPid})" : string.Empty;
        var merged = new List<AddressRange>();
        foreach (var range in report.Ranges)
        {
            // Pending and in-flight pieces of one range are listed apart by the task; one range to the reader.
            if (merged.Count > 0 && merged[^1].End == range.Start && merged[^1].DumpEnd == range.DumpStart)
            {
                merged[^1] = merged[^1] with { End = range.End };
            }
            else
            {
                merged.Add(range);
            }
        }

        var ranges = string.Join(", ", merged.Take(8).Select(r => $"0x{r.Start:x}-0x{r.End:x}" + (r.DumpStart != r.Start ? $" (dump 0x{r.DumpStart:x})" : string.Empty)));
        var more = merged.Count > 8 ? $" and {merged.Count - 8} more range(s)" : string.Empty;
        return $"task {report.Label}{host}: {report.Pages} page(s) in {merged.Count} range(s): {ranges}{more}";
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

    /// <summary>A child threw and is being restarted (sent by <see cref="ChildSupervision"/>).</summary>
    private sealed record ChildRestarted(IActorRef Child, Exception Cause) : INoSerializationVerificationNeeded;

    /// <summary>A child threw more often than <see cref="ChildSupervision.MaxRestarts"/> within its window.</summary>
    private sealed class RestartsExhaustedException(Exception last)
        : Exception($"{ChildSupervision.Describe(last)} (after {ChildSupervision.MaxRestarts} restarts within {ChildSupervision.Window.TotalSeconds:0} s)", last);

    /// <summary>
    /// The strategy for a restore's children, one instance for all (akka.net's Tcp.ConnectionSupervisorStrategy style).
    /// A task's irrecoverable uffd or page-source error (<see cref="TaskFailedException"/>) stops that task only, and the
    /// others go on. Any other exception is a fault of the actor, not of the task: the child is restarted and takes up
    /// its work in flight again (each actor re-issues it from state held outside the failed instance: the task actor
    /// from its <see cref="UffdActor.TaskSpec"/>, whose uffd and range book survive; the page cache, pusher and remote
    /// fetcher from their requests, re-sent to the new instance), at most <see cref="MaxRestarts"/> times within
    /// <see cref="Window"/>; beyond that, or when the actor cannot even be created, it is stopped (a task then fails
    /// with the reason; the page cache, pusher or fetcher stopping ends the restore). Failures are not logged here:
    /// the strategy tells the supervisor, which records the reason with that child's task and logs it in one line.
    /// </summary>
    private sealed class ChildSupervision : OneForOneStrategy
    {
        public const int MaxRestarts = 3;

        public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

        private readonly Action<IActorRef> _beforeStop;

        /// <param name="beforeStop">Called on the supervisor's thread for a child about to be stopped for good, before
        /// its stop is even requested (so before a task actor closes its uffd).</param>
        public ChildSupervision(Action<IActorRef> beforeStop)
            : base(Decide, loggingEnabled: false)
        {
            _beforeStop = beforeStop;
        }

        /// <summary>The reason recorded for <paramref name="cause"/>: one line (the trace of an internal error goes to the
        /// debug log).</summary>
        public static string Describe(Exception cause) => cause switch
        {
            TaskFailedException failed => failed.Message,
            RestartsExhaustedException exhausted => $"{exhausted.Message}",
            ActorInitializationException { InnerException: { } inner } => $"internal error: {inner.GetType().Name}: {inner.Message}",
            _ => $"internal error: {cause.GetType().Name}: {cause.Message}",
        };

        /// <inheritdoc />
        public override void ProcessFailure(IActorContext context, bool restart, IActorRef child, Exception cause,
            ChildRestartStats stats, IReadOnlyCollection<ChildRestartStats> children)
        {
            // Runs on the supervisor's thread before the child is restarted or stopped, so the supervisor reads this
            // before the child's Terminated.
            if (restart && stats.RequestRestartPermission(MaxRestarts, (int)Window.TotalMilliseconds))
            {
                context.Self.Tell(new ChildRestarted(child, cause));
                RestartChild(child, cause, suspendFirst: false);
                return;
            }

            context.Self.Tell(new ChildFailed(child, restart ? new RestartsExhaustedException(cause) : cause));
            _beforeStop(child);
            context.Stop(child);
        }

        private static Directive Decide(Exception cause) => cause switch
        {
            TaskFailedException => Directive.Stop,          // the task's own uffd or page data failed: stop that task only
            PageDataUnavailableException => Directive.Stop, // a page source refused data outside the fetch path: the same
            ActorInitializationException => Directive.Stop, // it cannot even be created: a restart would fail the same way
            _ => Directive.Restart,                         // the actor's fault: a new instance re-issues the work in flight
        };
    }

    private const string CloseTimer = "close";
    private const string ReportsTimer = "reports";

    private sealed class CloseTimedOut : INoSerializationVerificationNeeded
    {
        public static readonly CloseTimedOut Instance = new();
    }

    private sealed class ReportsTimedOut : INoSerializationVerificationNeeded
    {
        public static readonly ReportsTimedOut Instance = new();
    }

    /// <summary>
    /// Runs on the handshake thread. Each task's host pid is resolved right as its uffd
    /// arrives: the restorer is alive then and the task is its descendant.
    /// </summary>
    private sealed class Observer(IActorRef supervisor, ILoggingAdapter log, ulong listeningSince, CrashJournal? journal) : IRestorerObserver
    {
        private RestoredTree? _tree;
        private long _restoreFinishedAt;

        public BackgroundPriorityPhases? BackgroundPhases { get; init; }

        // Watched only when the push waits for it: a little longer than the bound, so that a late exit is still logged.
        public TimeSpan RestorerExitWatch => BackgroundPhases is { } phases && phases.WhileRestorerRuns != phases.AfterRestorer
            ? phases.RestorerExitWait + TimeSpan.FromMilliseconds(100)
            : TimeSpan.Zero;

        public void PeerRefused(string reason) => log.Warning("{Refusal}", reason);

        public void PeerClosedSilently(string note) => log.Info("{Note}", note);

        public void Accepted(SafeFdHandle connection, int restorerPid) => journal?.Accepted(connection, restorerPid, listeningSince);

        public void ListeningAgain(SafeFdHandle listener) => journal?.Listener(listener);

        public void Connected(int restorerPid)
        {
            StartupTrace.Mark(StartupStep.RestorerAccepted);
            // From here on the restorer sends uffds and its tasks may fault before "restore finished" (seen with CRIU
            // 4.2 on the 1 GiB sequential task): nothing of the daemon may stay below it.
            Scheduling.StartUpPriority.End("the restorer connected");
            _tree = RestoredTree.Attach(restorerPid, listeningSince > 0 ? listeningSince : null);
            supervisor.Tell(new RestorerConnected(restorerPid, _tree));
        }

        public void TaskUffd(int pid, SafeFdHandle uffd)
        {
            StartupTrace.Mark(StartupStep.FirstUffd);
            // The guardian holds a duplicate before anything else happens to it.
            journal?.Task(pid, uffd);
            supervisor.Tell(new TaskUffdReceived(pid, uffd, _tree?.Resolve(pid)));
        }

        public void Zombie(int pid)
        {
            journal?.Zombie(pid);
            supervisor.Tell(new ZombieReceived(pid));
        }

        public void RestoreFinished()
        {
            journal?.Finished();
            StartupTrace.Mark(StartupStep.RestoreFinished);
            // Normally ended when the restorer connected; a resumed restore ends it here at the latest.
            Scheduling.StartUpPriority.End("restore finished");
            _restoreFinishedAt = System.Diagnostics.Stopwatch.GetTimestamp();
            BackgroundPhases?.RestoreFinished();
            supervisor.Tell(RestoreSupervisor.RestoreFinished.Instance);
        }

        public void RestorerGone(bool closed)
        {
            var phases = BackgroundPhases;
            if (phases is null || phases.WhileRestorerRuns == phases.AfterRestorer)
            {
                return;
            }

            var late = phases.RestorerGone;
            phases.RestorerHasGone();
            var after = System.Diagnostics.Stopwatch.GetElapsedTime(_restoreFinishedAt).TotalMilliseconds;
            if (!closed)
            {
                log.Info("the restorer did not close the lazy-pages socket; background push {Priority} from now on ({Ms:0.0} ms after \"restore finished\")", Name(phases.AfterRestorer), after);
            }
            else
            {
                log.Info("the restorer closed the lazy-pages socket {Ms:0.0} ms after \"restore finished\"; background push {Priority} from now on{Late}",
                    after, Name(phases.AfterRestorer), late ? $" (restorer-exit-wait {phases.RestorerExitWait.TotalMilliseconds:0} ms had passed)" : "");
            }
        }

        public void Failed(string reason) => supervisor.Tell(new Fatal(reason));

        private static string Name(BackgroundPriority priority) => priority.ToString().ToLowerInvariant();
    }
}
