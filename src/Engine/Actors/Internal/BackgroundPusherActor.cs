using Akka.Actor;
using LazyActors.Engine.Configuration;
using Messages = LazyActors.Engine.Actors.BackgroundPusherActor;
using Task = LazyActors.Engine.Actors.UffdActor;

namespace LazyActors.Engine.Actors.Internal;

/// <summary>The pusher behind <see cref="Protocol"/>.</summary>
internal sealed class BackgroundPusherActor : EngineActor, IWithTimers
{
    private readonly EngineSettings _settings;
    private readonly List<Slot> _slots = [];
    private readonly Dictionary<IActorRef, Slot> _byTask = [];
    private long _bytesInFlight;
    private int _next;
    private bool _started;

    public BackgroundPusherActor(EngineSettings settings)
    {
        _settings = settings;
        Receive<Messages.AddTask>(add =>
        {
            if (_byTask.ContainsKey(add.Task))
            {
                return;
            }

            var slot = new Slot(add.Task, (ulong)_settings.ChunkInitialBytes);
            _slots.Add(slot);
            _byTask.Add(add.Task, slot);
            Context.Watch(add.Task);
            Fill();
        });
        Receive<Messages.Start>(_ =>
        {
            if (!_settings.BackgroundPush)
            {
                return;
            }

            if (_settings.BackgroundPushDelay > TimeSpan.Zero)
            {
                Timers.StartSingleTimer(BeginPushing.Instance, BeginPushing.Instance, _settings.BackgroundPushDelay);
                return;
            }

            _started = true;
            Fill();
        });
        Receive<BeginPushing>(_ =>
        {
            _started = true;
            Fill();
        });
        Receive<Task.ChunkFinished>(done =>
        {
            if (_byTask.TryGetValue(done.Task, out var slot))
            {
                Settle(slot, done.Bytes);
                slot.Chunk = done.FaultsSince > 0 ? NearFaultChunk(slot.Chunk) : Math.Min(slot.Chunk * 2, (ulong)_settings.ChunkMaxBytes);
            }

            Fill();
        });
        Receive<Task.NothingToPush>(nothing =>
        {
            if (_byTask.TryGetValue(nothing.Task, out var slot))
            {
                Settle(slot, nothing.Bytes);
                slot.Idle = true;
                slot.HasPlace = false;
            }

            Fill();
        });
        Receive<Terminated>(t =>
        {
            if (_byTask.Remove(t.ActorRef, out var slot))
            {
                _bytesInFlight -= slot.BytesInFlight;
                _slots.Remove(slot);
            }

            Fill();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

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
        if (!_started || _slots.Count == 0)
        {
            return;
        }

        var places = _slots.Count(s => s.HasPlace);
        var waiting = _slots.Count(s => !s.Idle && !s.HasPlace);
        var maxPlaces = _settings.EffectiveBackgroundTasksAtOnce;
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
                slot.Task.Tell(new Task.PushChunk(slot.Chunk));
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

    private sealed class BeginPushing
    {
        public static readonly BeginPushing Instance = new();
    }
}
