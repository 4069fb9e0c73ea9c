using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;

namespace LazyActors.Engine.Hosting;

/// <summary>
/// The engine's Akka scheduler (<c>akka.scheduler.implementation</c>, Configuration/Reference.conf): one thread that
/// sleeps until the earliest deadline of what is scheduled, runs what is due and sleeps again.
/// </summary>
/// <remarks>
/// <para>Why not Akka's <see cref="HashedWheelTimerScheduler"/>: its worker wakes every <c>tick-duration</c> (10 ms)
/// for as long as the system lives, scheduled work or not, and it is stopped by cancelling the token of a
/// <see cref="PeriodicTimer"/> wait. That cancellation completes the wait with an <see cref="OperationCanceledException"/>
/// whose stack trace the runtime formats eagerly; in the NativeAOT program the first formatted trace resolves the
/// method names of the whole image (about 38 ms of CPU at the end of every one-shot restore, docs/benchmarks.md,
/// seq27 and fixed32). A one-shot daemon schedules almost nothing (ask timeouts, the pusher's delay, retry back-offs),
/// so here an idle system costs no wake-up at all, and stopping is a flag and a pulse.</para>
/// <para>Semantics as Akka's scheduler: a delay is a lower bound (never early, late by the OS timer's slack); a
/// cancelled registration never runs; a repeated one runs again <c>interval</c> after it ran; an action that throws is
/// logged and the others still run; on <see cref="Dispose"/> what was still pending and not cancelled runs once (as
/// the wheel does), so a pending ask or timer completes instead of hanging. Thread-safe.</para>
/// </remarks>
public sealed class DeadlineScheduler : SchedulerBase, IDateTimeOffsetNowTimeProvider, IDisposable
{
    // Monitor (Wait/Pulse) is the worker's sleep: System.Threading.Lock has no condition.
    private readonly object _lock = new();
    private readonly PriorityQueue<Registration, (long Deadline, long Sequence)> _due = new();
    // One monotonic clock for every scheduler of the process (Akka's own is internal to it).
    private static readonly System.Diagnostics.Stopwatch Clock = System.Diagnostics.Stopwatch.StartNew();
    private readonly Thread _thread;
    private readonly TimeSpan _shutdownTimeout;
    private long _sequence;
    private bool _stopping;

    /// <summary>Created by the actor system from <c>akka.scheduler.implementation</c> (Akka passes its config and log).</summary>
    public DeadlineScheduler(Config scheduler, ILoggingAdapter log)
        : base(scheduler, log)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        _shutdownTimeout = scheduler.GetTimeSpan("akka.scheduler.shutdown-timeout", TimeSpan.FromSeconds(5));
        // Started here, on the thread that builds the actor system (normal priority): a thread started lazily by the
        // first schedule could inherit a copier's SCHED_FIFO.
        _thread = new Thread(Loop) { IsBackground = true, Name = "la-scheduler" };
        _thread.Start();
    }

    /// <summary>Registrations waiting for their deadline (tests).</summary>
    internal int Pending
    {
        get
        {
            lock (_lock)
            {
                return _due.Count;
            }
        }
    }

    /// <summary>Times the worker woke up (a deadline came, or an earlier one was scheduled); tests count idle wake-ups.</summary>
    internal long WakeUps => Interlocked.Read(ref _wakeUps);

    private long _wakeUps;

    /// <inheritdoc />
    protected override DateTimeOffset TimeNow => DateTimeOffset.UtcNow;

    /// <inheritdoc />
    public override TimeSpan MonotonicClock => Clock.Elapsed;

    /// <inheritdoc />
    public override TimeSpan HighResMonotonicClock => Clock.Elapsed;

    /// <inheritdoc />
    protected override void InternalScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Add(delay, TimeSpan.Zero, new Tell(receiver, message, sender), cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Add(initialDelay, interval, new Tell(receiver, message, sender), cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) =>
        Add(delay, TimeSpan.Zero, new ActionRunnable(action), cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) =>
        Add(delay, TimeSpan.Zero, action, cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable cancelable) =>
        Add(initialDelay, interval, new ActionRunnable(action), cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action, ICancelable cancelable) =>
        Add(initialDelay, interval, action, cancelable);

    /// <summary>Stops the worker (bounded by <c>akka.scheduler.shutdown-timeout</c>), then runs once what was still pending.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_stopping)
            {
                return;
            }

            _stopping = true;
            Monitor.Pulse(_lock);
        }

        if (!_thread.Join(_shutdownTimeout))
        {
            Log.Warning("the scheduler's thread did not stop within {0}", _shutdownTimeout);
            return;
        }

        List<Registration> left;
        lock (_lock)
        {
            left = new List<Registration>(_due.Count);
            while (_due.TryDequeue(out var registration, out _))
            {
                left.Add(registration);
            }
        }

        foreach (var registration in left)
        {
            if (!registration.Cancelled)
            {
                Run(registration);
            }
        }
    }

    private void Add(TimeSpan delay, TimeSpan interval, IRunnable action, ICancelable? cancelable)
    {
        var registration = new Registration(action, cancelable, interval.Ticks);
        lock (_lock)
        {
            if (_stopping)
            {
                throw new SchedulerException("cannot schedule after the scheduler stopped");
            }

            Enqueue(registration, Now() + Math.Max(0, delay.Ticks));
        }
    }

    // Under the lock. Wakes the worker only when the new deadline is the earliest: otherwise it already sleeps until an
    // earlier one. The sequence keeps registrations of one deadline in the order they were made.
    private void Enqueue(Registration registration, long deadline)
    {
        var wasEarliest = !_due.TryPeek(out _, out var earliest) || deadline < earliest.Deadline;
        _due.Enqueue(registration, (deadline, _sequence++));
        if (wasEarliest)
        {
            Monitor.Pulse(_lock);
        }
    }

    private static long Now() => Clock.Elapsed.Ticks;

    private void Loop()
    {
        var batch = new List<Registration>();
        while (true)
        {
            lock (_lock)
            {
                while (true)
                {
                    if (_stopping)
                    {
                        return;
                    }

                    if (!_due.TryPeek(out _, out var earliest))
                    {
                        Monitor.Wait(_lock);
                        Interlocked.Increment(ref _wakeUps);
                        continue;
                    }

                    var now = Now();
                    if (earliest.Deadline > now)
                    {
                        // Rounded up: a deadline is never met early.
                        var sleep = (earliest.Deadline - now + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond;
                        Monitor.Wait(_lock, (int)Math.Min(sleep, int.MaxValue));
                        Interlocked.Increment(ref _wakeUps);
                        continue;
                    }

                    while (_due.TryPeek(out var next, out var key) && key.Deadline <= now)
                    {
                        _due.Dequeue();
                        if (!next.Cancelled)
                        {
                            batch.Add(next);
                        }
                    }

                    break;
                }
            }

            // Outside the lock: an action may schedule again (timers do), and a slow one must not block schedulers.
            foreach (var registration in batch)
            {
                Run(registration);
                if (registration.Interval > 0 && !registration.Cancelled)
                {
                    lock (_lock)
                    {
                        if (!_stopping)
                        {
                            Enqueue(registration, Now() + registration.Interval);
                        }
                    }
                }
            }

            batch.Clear();
        }
    }

    private void Run(Registration registration)
    {
        try
        {
            registration.Action.Run();
        }
        catch (SchedulerException)
        {
            // The target is gone with its system (as Akka's wheel, not worth a line).
        }
        catch (Exception ex)
        {
            Log.Error(ex, "Exception while executing timer task.");
        }
    }

    private sealed class Registration(IRunnable action, ICancelable? cancelable, long interval)
    {
        public IRunnable Action { get; } = action;

        public long Interval { get; } = interval;

        public bool Cancelled => cancelable?.IsCancellationRequested ?? false;
    }

    private sealed class Tell(ICanTell receiver, object message, IActorRef sender) : IRunnable
    {
        public void Run() => receiver.Tell(message, sender);

        public void Execute() => Run();
    }
}
