using Akka.Actor;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Actors.WarmUp;

/// <summary>
/// Runs the fault and background paths once while the engine waits for the restorer, so the first real faults do not
/// pay for JIT compilation (milliseconds per method otherwise): two tasks on in-memory stand-ins (no images) take faults,
/// an event, "restore finished" and background chunks, one through the page cache and one through the direct path.
/// With the engine's <see cref="EpollUffdHub"/> and userfaultfd permission a third task runs the native path end to
/// end (<see cref="ScratchFaults"/>), served by faults alone (it is not given to the pusher). A one-shot daemon runs the
/// stand-ins as soon as its actor system is up, before the restorer connects, and only the native path once the uffd hub
/// exists (<c>standIns: false</c>), so little of the warm-up runs beside the restorer's first faults.
/// </summary>
internal sealed class EngineWarmUp : EngineActor
{
    /// <summary>Label of the task that runs the native path.</summary>
    public const string NativeLabel = "warm-up-native";

    private const ulong Base = 0x10_0000;
    private const int Pages = 64;
    private static readonly TimeSpan ToucherJoinTimeout = TimeSpan.FromSeconds(2);
    private readonly List<TaskProgress> _tasks = [];
    private readonly ZeroPageSource _source = new(Base, Pages);
    private IActorRef? _requester;
    private int _running;
    private IActorRef? _nativeTask;
    private ScratchFaults? _native;

    /// <summary>Use <see cref="Props"/>.</summary>
    public EngineWarmUp(EngineSettings settings, IUffdHub? realHub, bool standIns = true)
    {
        Receive<Begin>(_ => RunTasks(settings, realHub, standIns));
        Receive<UffdActor.TaskEnded>(_ => { });
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_nativeTask))
            {
                // The task actor closed the uffd when it stopped: a toucher still blocked (a failure) is released.
                _native?.Finish(ToucherJoinTimeout);
                _native = null;
            }

            if (--_running == 0)
            {
                _requester?.Tell(new Done(_tasks));
                Context.Stop(Self);
            }
        });
    }

    /// <summary>Props of the warm-up; with the engine's <see cref="EpollUffdHub"/> it also runs the native fault path, and
    /// without <paramref name="standIns"/> only that.</summary>
    public static Props Props(EngineSettings settings, IUffdHub? realHub, bool standIns = true) =>
        Akka.Actor.Props.Create(() => new EngineWarmUp(settings, realHub, standIns)).WithDispatcher(EngineSettings.DispatcherId);

    /// <inheritdoc />
    protected override SupervisorStrategy SupervisorStrategy() => Akka.Actor.SupervisorStrategy.StoppingStrategy;

    /// <inheritdoc />
    protected override void PostStop()
    {
        _native?.Finish(ToucherJoinTimeout);
        _source.Dispose();
        base.PostStop();
    }

    private void RunTasks(EngineSettings settings, IUffdHub? realHub, bool standIns)
    {
        _requester = Sender;
        var statistics = new EngineStatistics(recordsMeters: false);
        var cache = Context.ActorOf(PageCacheActor.Props(_source, settings, statistics), "cache");
        var pusher = Context.ActorOf(BackgroundPusherActor.Props(settings), "pusher");
        var hub = new UnwatchedUffdHub();
        foreach (var direct in standIns ? new[] { false, true } : [])
        {
            var progress = new TaskProgress(0, direct ? "warm-up-direct" : "warm-up-cache", Pages, isForkChild: false);
            var spec = new UffdActor.TaskSpec(0, new AcceptingUffd(), Book(Base), progress, RestoreFinished: false);
            var task = Start(UffdActor.Props(spec, cache, pusher, hub, settings, direct ? _source : null, statistics), progress);
            task.Tell(UffdActor.Events.Of(
            [
                new UffdMsg { Event = UffdEvent.Pagefault, PagefaultAddress = Base },
                new UffdMsg { Event = UffdEvent.Pagefault, PagefaultAddress = Base + PageGeometry.PageSize },
                new UffdMsg { Event = UffdEvent.Pagefault, PagefaultAddress = Base + (Pages * PageGeometry.PageSize) },
                new UffdMsg { Event = UffdEvent.Remap, RemapFrom = Base, RemapTo = Base, RemapLength = PageGeometry.PageSize },
            ]));
            task.Tell(UffdActor.RestoreFinished.Instance);
            pusher.Tell(new BackgroundPusherActor.AddTask(task));
        }

        if (realHub is EpollUffdHub && ScratchFaults.TryCreate(realHub, Pages) is { } native)
        {
            _native = native;
            var progress = new TaskProgress(0, NativeLabel, Pages, isForkChild: false);
            var spec = new UffdActor.TaskSpec(0, native.Uffd, Book(native.Region.Start), progress, RestoreFinished: true);
            _nativeTask = Start(UffdActor.Props(spec, cache, pusher, realHub, settings, _source, statistics), progress);
            native.StartTouching();
        }

        pusher.Tell(BackgroundPusherActor.Start.Instance);
        if (_running == 0)
        {
            // Nothing to run (native path only, and no userfaultfd here).
            _requester.Tell(new Done(_tasks));
            Context.Stop(Self);
        }
    }

    private IActorRef Start(Props props, TaskProgress progress)
    {
        // Stand-ins: their faults are no restore's (the process-wide meters and the start-up trace leave them out).
        progress.RecordsMeters = false;
        var task = Context.ActorOf(props);
        Context.Watch(task);
        _tasks.Add(progress);
        _running++;
        return task;
    }

    /// <summary>The lazy pages of a warm-up task at <paramref name="start"/>, with the stand-in's dump addresses.</summary>
    private static TaskRangeBook Book(ulong start)
    {
        var book = new TaskRangeBook();
        book.AddLazy(start, start + (Pages * PageGeometry.PageSize), Base);
        return book;
    }

    /// <summary>Starts the warm-up; the sender gets <see cref="Done"/>.</summary>
    internal sealed class Begin : INoSerializationVerificationNeeded
    {
        public static readonly Begin Instance = new();
    }

    /// <summary>The warm-up finished: how each of its tasks ended.</summary>
    /// <param name="Tasks">The counters of every warm-up task.</param>
    internal sealed record Done(IReadOnlyList<TaskProgress> Tasks) : INoSerializationVerificationNeeded
    {
        /// <summary>True when the native path ran end to end: every page of a real uffd was faulted in and served.</summary>
        public bool NativePathServed => Tasks.Any(t => t.Label == NativeLabel && t.Phase == TaskPhase.Complete);
    }
}
