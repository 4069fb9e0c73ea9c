using Akka.Actor;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Faults;

namespace LazyActors.Engine.Actors;

/// <summary>
/// The background pusher of one restore: after "restore finished" it keeps every task busy with background chunks at the
/// same time (round-robin, at most K chunks in flight per task and a global byte budget), chunks growing from
/// <see cref="EngineSettings.ChunkInitialBytes"/> to <see cref="EngineSettings.ChunkMaxBytes"/> and shrinking back
/// when the task faulted meanwhile. Task actors do the claiming and copying; faults always overtake chunks there and
/// in the page cache.
/// </summary>
/// <remarks>
/// Phases: idle (tasks are registered) until <see cref="Start"/> → waiting for background-push-delay, when set →
/// pushing. With background-push off it stays idle: tasks then complete through faults alone. Restarted after an
/// exception, it is told its tasks again (and to start, if it had started): chunks still out then report to slots
/// that no longer count them, which only lets the new instance hand out a few chunks more for a while.
/// </remarks>
public sealed class BackgroundPusherActor : EngineActor, IWithTimers
{
    /// <summary>Props of the pusher.</summary>
    public static Props Props(EngineSettings settings, FaultInjector? faults = null) =>
        Akka.Actor.Props.Create(() => new BackgroundPusherActor(settings, faults)).WithDispatcher(EngineSettings.DispatcherId);

    /// <summary>A task actor restarted: the chunks it had in flight are gone, so its slot counts none.</summary>
    public sealed record TaskRestarted(IActorRef Task) : INoSerializationVerificationNeeded;

    /// <summary>A task actor to push to (watched; forgotten when it stops).</summary>
    public sealed record AddTask(IActorRef Task) : INoSerializationVerificationNeeded;

    /// <summary>"Restore finished" arrived: start pushing.</summary>
    public sealed class Start : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly Start Instance = new();

        private Start()
        {
        }
    }

    private readonly EngineSettings _settings;
    private readonly List<Slot> _slots = [];
    private readonly Dictionary<IActorRef, Slot> _byTask = [];
    private readonly FaultInjector? _faults;
    private long _bytesInFlight;
    private int _next;
    private bool _started;

    /// <summary>Use <see cref="Props"/>.</summary>
    public BackgroundPusherActor(EngineSettings settings, FaultInjector? faults = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
        _faults = faults;
        Idle();
    }

    /// <summary>Restarted after an exception: the new instance gets the tasks and the start again.</summary>
    protected override void PreRestart(Exception reason, object message)
    {
        foreach (var slot in _slots)
        {
            Self.Tell(new AddTask(slot.Task));
        }

        if (_started)
        {
            Self.Tell(Start.Instance);
        }

        base.PreRestart(reason, message);
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    private void Idle()
    {
        Receive<AddTask>(add => AddSlot(add.Task));
        Receive<Terminated>(t => RemoveSlot(t.ActorRef));
        Receive<TaskRestarted>(_ => { });
        Receive<Start>(_ =>
        {
            _started = true;
            if (!_settings.BackgroundPush)
            {
                return;
            }

            if (_settings.BackgroundPushDelay > TimeSpan.Zero)
            {
                Timers.StartSingleTimer(BeginPushing.Instance, BeginPushing.Instance, _settings.BackgroundPushDelay);
                Become(WaitingForPushDelay);
                return;
            }

            StartPushing();
        });
    }

    private void WaitingForPushDelay()
    {
        Receive<AddTask>(add => AddSlot(add.Task));
        Receive<Terminated>(t => RemoveSlot(t.ActorRef));
        Receive<BeginPushing>(_ => StartPushing());
        Receive<TaskRestarted>(_ => { });
        Receive<Start>(_ => { });
    }

    private void Pushing()
    {
        Receive<AddTask>(add =>
        {
            AddSlot(add.Task);
            Fill();
        });
        Receive<Terminated>(t =>
        {
            RemoveSlot(t.ActorRef);
            Fill();
        });
        Receive<TaskRestarted>(restarted =>
        {
            if (_byTask.TryGetValue(restarted.Task, out var slot))
            {
                _bytesInFlight -= slot.BytesInFlight;
                slot.BytesInFlight = 0;
                slot.InFlight = 0;
                slot.Idle = false;
            }

            Fill();
        });
        Receive<UffdActor.ChunkFinished>(done =>
        {
            _faults?.ThrowIfFires(FaultPoint.PusherThrows, "the background pusher (a finished chunk)");
            if (_byTask.TryGetValue(done.Task, out var slot))
            {
                Settle(slot, done.Bytes);
                // Faults that follow the push front in sequence (push-front following) ask for more of the same push,
                // and faults scattered at random (scattered-fault-distance) ask for nothing near them: only faults
                // near the previous one make the next chunk small.
                slot.Chunk = done.FaultsSince > done.FrontFaultsSince + done.ScatteredFaultsSince
                    ? NearFaultChunk(slot.Chunk)
                    : Math.Min(slot.Chunk * 2, (ulong)_settings.ChunkMaxBytes);
            }

            Fill();
        });
        Receive<UffdActor.NothingToPush>(nothing =>
        {
            if (_byTask.TryGetValue(nothing.Task, out var slot))
            {
                Settle(slot, nothing.Bytes);
                slot.Idle = true;
                slot.HasPlace = false;
            }

            Fill();
        });
        Receive<Start>(_ => { });
    }

    private void StartPushing()
    {
        Become(Pushing);
        Fill();
    }

    private void AddSlot(IActorRef task)
    {
        if (_byTask.ContainsKey(task))
        {
            return;
        }

        var slot = new Slot(task, (ulong)_settings.ChunkInitialBytes);
        _slots.Add(slot);
        _byTask.Add(task, slot);
        Context.Watch(task);
    }

    private void RemoveSlot(IActorRef task)
    {
        if (_byTask.Remove(task, out var slot))
        {
            _bytesInFlight -= slot.BytesInFlight;
            _slots.Remove(slot);
        }
    }

    /// <summary>
    /// After faults the task's next chunk is claimed around its last fault: small, so the neighbourhood a task is
    /// working in arrives first, but no smaller than chunk-initial and no larger than the fault path's own read-ahead.
    /// Not back to chunk-initial: a task touching at random faults during every chunk, and 64 KiB chunks would cost
    /// more in messages than in copying.
    /// </summary>
    private ulong NearFaultChunk(ulong current)
    {
        var initial = (ulong)_settings.ChunkInitialBytes;
        return Math.Clamp(current, initial, Math.Max(initial, (ulong)_settings.FaultReadAheadMaxBytes));
    }

    private void Settle(Slot slot, ulong bytes)
    {
        slot.InFlight = Math.Max(0, slot.InFlight - 1);
        var settled = Math.Min((long)bytes, slot.BytesInFlight);
        slot.BytesInFlight -= settled;
        _bytesInFlight -= settled;
    }

    /// <summary>
    /// Round-robin: one chunk per task per round until every pushing task has K in flight or the budget is spent. At
    /// most background-tasks-at-once tasks hold a place among the pushing tasks; while others wait for a place, a task
    /// that had background-turn-chunks chunks gets no more and gives its place up once they are done, so every task of
    /// the tree keeps moving and bulk copies stay bulk.
    /// </summary>
    private void Fill()
    {
        if (_slots.Count == 0)
        {
            return;
        }

        var places = _slots.Count(s => s.HasPlace);
        var waiting = _slots.Count(s => !s.Idle && !s.HasPlace);
        var maxPlaces = _settings.EffectiveBackgroundTasksAtOnce;
        // A second copier only helps while a CPU is left for it: the tree's tasks (busy or waiting at the push front)
        // are fewer than the CPUs. With more, the halves would take the CPUs of the tasks themselves.
        var split = _settings.SecondCopierSliceBytes is not null && _slots.Count < Environment.ProcessorCount;
        var sent = true;
        while (sent)
        {
            sent = false;
            for (var i = 0; i < _slots.Count; i++)
            {
                var index = (_next + i) % _slots.Count;
                var slot = _slots[index];
                if (slot.Idle)
                {
                    continue;
                }

                if (slot.HasPlace && slot.TurnChunks >= _settings.BackgroundTurnChunks && waiting > 0)
                {
                    if (slot.InFlight == 0)
                    {
                        slot.HasPlace = false; // turn over: make way for a waiting task
                        places--;
                        waiting++;
                        sent = true; // another pass, so the waiting task takes it
                    }

                    continue;
                }

                if (!slot.HasPlace && places >= maxPlaces)
                {
                    continue;
                }

                if (slot.InFlight >= _settings.ChunksInFlightPerTask)
                {
                    continue;
                }

                if (_bytesInFlight + (long)slot.Chunk > _settings.MaxBackgroundInFlightBytes)
                {
                    return;
                }

                var newPlace = !slot.HasPlace;
                if (newPlace)
                {
                    slot.HasPlace = true;
                    slot.TurnChunks = 0;
                    places++;
                    waiting--;
                }

                slot.TurnChunks++;
                slot.Task.Tell(new UffdActor.PushChunk(slot.Chunk, split));
                slot.InFlight++;
                slot.BytesInFlight += (long)slot.Chunk;
                _bytesInFlight += (long)slot.Chunk;
                sent = true;
                if (newPlace)
                {
                    // The next round starts after the task that just got its place, so places rotate.
                    _next = (index + 1) % _slots.Count;
                    break;
                }
            }
        }
    }

    private sealed class Slot(IActorRef task, ulong chunk)
    {
        public IActorRef Task { get; } = task;

        public ulong Chunk { get; set; } = chunk;

        public int InFlight { get; set; }

        public long BytesInFlight { get; set; }

        public bool Idle { get; set; }

        /// <summary>True while the task holds one of the background-tasks-at-once places.</summary>
        public bool HasPlace { get; set; }

        /// <summary>Chunks handed out since the task last got its place.</summary>
        public int TurnChunks { get; set; }
    }

    private sealed class BeginPushing : INoSerializationVerificationNeeded
    {
        public static readonly BeginPushing Instance = new();
    }
}
