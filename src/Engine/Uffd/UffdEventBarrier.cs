using LazyActors.Engine.Scheduling;

namespace LazyActors.Engine.Uffd;

/// <summary>
/// Keeps UFFDIO_COPY/ZEROPAGE of one uffd from running between the read of a non-cooperative event (FORK, REMAP,
/// REMOVE, UNMAP) and the moment its owner has applied it. The kernel blocks a copy (EAGAIN) only until the event is
/// read; after that the madvise/mremap/munmap/fork goes on, so a copy landing before the owner updated its ranges could
/// re-populate zapped memory, write to the old place of moved memory, or be missed by a fork child.
/// </summary>
/// <remarks>
/// <para>Reads and copies of the uffd exclude each other through one gate. Since Linux 6.8 a copy already running when
/// an event is raised finishes before the event can be queued, so the only danger is a copy <em>starting</em> between a
/// read and its application: copies check <see cref="HasUnhandledEvents"/> inside the gate, reads count events inside it.</para>
/// <para>The epoll reader never waits for the gate: a copier preempted in the middle of a 512 KiB copy would otherwise
/// stall the faults of every task behind it. <see cref="RequestRead"/> records that the uffd is readable and reads at once
/// if the gate is free; if a copier holds it, that copier performs the read itself as it leaves (or, entering, before
/// its own copy), so a fault waits at most for the copy in progress on its own uffd.</para>
/// <para>With priority inheritance on, a read left to a copier also lends that copier the reader's real-time priority
/// (SCHED_FIFO 1) until it leaves the gate: a copier that lost its CPU to the restored tasks would otherwise keep the
/// fault unread for a scheduler tick or more, the classic priority inversion. Only a copier someone waits for is
/// boosted, so background copying keeps its normal priority. With the priority ceiling instead, every copy holds the
/// gate at that priority and drops back as it leaves.</para>
/// <para>A background slice (<see cref="EnterCopy(bool)"/> with true) may instead run below the restored tasks
/// (<see cref="BackgroundPriority"/>): then a read left to it lends it (and the second copier, while that holds a half
/// of its slice) SCHED_FIFO 1 as inheritance does, so a fault never waits for a copier that only gets idle CPU.
/// Thread-safe.</para>
/// </remarks>
public sealed class UffdEventBarrier
{
    private readonly Lock _gate = new();
    private readonly Lock _boost = new();
    private readonly bool _priorityInheritance;
    private readonly bool _priorityCeiling;
    private readonly bool _holdCeiling;
    private readonly BackgroundPriorityPhases _background;
    private SecondCopier? _helper;
    private int _unhandled;
    private int _readWanted;
    private Action? _read;
    private int _holderTid;
    private bool _holderBoosted;

    /// <param name="priority">
    /// How a copier in the gate is kept from being preempted: <see cref="GatePriority.Inherit"/> lends a waiting read's
    /// real-time priority to it, <see cref="GatePriority.Ceiling"/> runs every copy at that priority.
    /// </param>
    /// <param name="background">How background slices are scheduled (see <see cref="BackgroundPriority"/>).</param>
    public UffdEventBarrier(GatePriority priority = GatePriority.Off, BackgroundPriority background = BackgroundPriority.Gate)
        : this(priority, BackgroundPriorityPhases.Fixed(background))
    {
    }

    /// <param name="priority">As for <see cref="UffdEventBarrier(GatePriority, BackgroundPriority)"/>.</param>
    /// <param name="background">How background slices are scheduled, phase by phase of the restore (shared by its uffds).</param>
    public UffdEventBarrier(GatePriority priority, BackgroundPriorityPhases background)
    {
        ArgumentNullException.ThrowIfNull(background);
        _priorityCeiling = priority is GatePriority.Ceiling or GatePriority.CeilingHeld;
        _holdCeiling = priority == GatePriority.CeilingHeld;
        _background = background;
        // A lowered background slice is lent the reader's priority when a read waits for it, unless priorities are off.
        _priorityInheritance = priority == GatePriority.Inherit || (_priorityCeiling && _background.CanLower);
    }

    /// <summary>
    /// The second copier while it holds a half of the current holder's slice (set and cleared inside the gate by the
    /// holder): a read that waits for the holder lends it the same priority.
    /// </summary>
    internal SecondCopier? Helper
    {
        get => Volatile.Read(ref _helper);
        set => Volatile.Write(ref _helper, value);
    }

    /// <summary>True while events were read that the owner has not applied yet.</summary>
    public bool HasUnhandledEvents => Volatile.Read(ref _unhandled) > 0;

    /// <summary>True while a read was requested and nobody has performed it yet.</summary>
    public bool IsReadPending => Volatile.Read(ref _readWanted) != 0;

    /// <summary>
    /// Sets the action that reads the uffd once (non-blocking), reports the messages and re-arms the readiness
    /// notification. It always runs inside the gate, on whichever thread serves the request.
    /// </summary>
    public void AttachReader(Action read) => Volatile.Write(ref _read, read);

    /// <summary>Forgets the read action (the uffd is no longer watched); pending requests are dropped.</summary>
    public void DetachReader()
    {
        Volatile.Write(ref _read, null);
        Volatile.Write(ref _readWanted, 0);
    }

    /// <summary>
    /// Asks for a read of the uffd without ever blocking: performed now on the calling thread when the gate is free
    /// (returns true), otherwise by the current holder of the gate when it leaves (returns false).
    /// </summary>
    public bool RequestRead()
    {
        Volatile.Write(ref _readWanted, 1);
        if (ServeRequestedRead())
        {
            return true;
        }

        if (_priorityInheritance)
        {
            BoostHolder();
        }

        return false;
    }

    /// <summary>True while the copier holding the gate runs with a lent real-time priority.</summary>
    public bool IsHolderBoosted
    {
        get
        {
            lock (_boost)
            {
                return _holderBoosted;
            }
        }
    }

    /// <summary>
    /// Takes the gate for one copy. A read requested meanwhile is performed first, so that an event it brings makes
    /// <see cref="HasUnhandledEvents"/> refuse this copy. Dispose the scope right after the copy.
    /// </summary>
    public CopyScope EnterCopy() => EnterCopy(background: false);

    /// <summary>
    /// <see cref="EnterCopy()"/> for a fault's copy (false) or a background slice (true), which is scheduled as
    /// <see cref="BackgroundPriority"/> says.
    /// </summary>
    public CopyScope EnterCopy(bool background)
    {
        var lowered = background ? _background.Current : BackgroundPriority.Gate;
        var ceilingBoosted = false;
        if (lowered == BackgroundPriority.Gate)
        {
            // Ceiling: real time before taking the gate, so the holder is never preempted while it has it. A thread that
            // still holds it from its previous copy (CeilingHeld) asks the kernel for nothing.
            ceilingBoosted = _priorityCeiling && (t_ceilingHeld || ThreadScheduling.TrySetRealtime(1));
            t_ceilingHeld = ceilingBoosted && _holdCeiling;
        }
        else if (t_ceilingHeld && !ReleaseHeldCeilingNow())
        {
            lowered = BackgroundPriority.Gate;
        }
        else if (!(lowered == BackgroundPriority.Idle ? SchedulingGrants.LeaveIdle && ThreadScheduling.TrySetIdle() : LowerNiceForSlice()))
        {
            lowered = BackgroundPriority.Gate;
        }

        _gate.Enter();
        if (_priorityInheritance && !ceilingBoosted)
        {
            lock (_boost)
            {
                _holderTid = CurrentTid();
            }
        }

        var scope = new CopyScope(this, ceilingBoosted, lowered);
        try
        {
            if (Interlocked.Exchange(ref _readWanted, 0) != 0)
            {
                Volatile.Read(ref _read)?.Invoke();
            }
        }
        catch
        {
            ExitCopy(scope);
            throw;
        }

        return scope;
    }

    /// <summary>Counts the non-cooperative events in a batch just read (called by the read action, inside the gate).</summary>
    public void EventsRead(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _unhandled, count);
        }
    }

    /// <summary>The owner applied <paramref name="count"/> events.</summary>
    public void EventsHandled(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _unhandled, -count);
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Style", "IDE1006", Justification = "t_ marks a [ThreadStatic] field; naming rules cannot tell it from other statics")]
    [ThreadStatic]
    private static int t_tid;

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Style", "IDE1006", Justification = "t_ marks a [ThreadStatic] field; naming rules cannot tell it from other statics")]
    [ThreadStatic]
    private static int t_ownNice;

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Style", "IDE1006", Justification = "t_ marks a [ThreadStatic] field; naming rules cannot tell it from other statics")]
    [ThreadStatic]
    private static bool t_ownNiceKnown;

    // A background slice at nice 0 gives the thread its own nice back after it. An engine thread's nice is set once,
    // before its first copy, so it is asked of the kernel once per thread.
    private static bool LowerNiceForSlice()
    {
        if (!t_ownNiceKnown)
        {
            if (!ThreadScheduling.TryGetNice(out t_ownNice))
            {
                return false;
            }

            t_ownNiceKnown = true;
        }

        return t_ownNice == 0 || ThreadScheduling.TrySetNice(0);
    }

    /// <summary>The calling thread's kernel id, asked of the kernel once per thread.</summary>
    private static int CurrentTid() => t_tid != 0 ? t_tid : t_tid = Interop.Libc.GetTid();

    private void ExitCopy(in CopyScope scope)
    {
        if (_priorityInheritance)
        {
            bool boosted;
            lock (_boost)
            {
                _holderTid = 0;
                boosted = _holderBoosted;
                _holderBoosted = false;
            }

            if (boosted)
            {
                BackFromBoost();
            }
        }

        // A lowered slice is raised again before the gate is left: the read it may perform on the way out serves faults.
        if (scope.Lowered == BackgroundPriority.Idle)
        {
            BackFromBoost();
        }
        else if (scope.Lowered == BackgroundPriority.Normal)
        {
            ThreadScheduling.TrySetNice(t_ownNice);
        }

        _gate.Exit();
        ServeRequestedRead();
        if (scope.CeilingBoosted && !t_ceilingHeld)
        {
            BackFromBoost();
        }
    }

    /// <summary>
    /// With <see cref="GatePriority.CeilingHeld"/>: the calling thread gives back the SCHED_FIFO 1 it kept after its last
    /// copy (one <c>sched_setscheduler</c>; nothing when it holds none). Engine actors other than the task actors call
    /// it before each message (<see cref="Actors.EngineActor"/>).
    /// </summary>
    public static void ReleaseHeldCeiling()
    {
        if (t_ceilingHeld)
        {
            ReleaseHeldCeilingNow();
        }
    }

    /// <summary>True while the calling thread keeps the ceiling's SCHED_FIFO 1 between copies (tests).</summary>
    internal static bool HoldsCeiling => t_ceilingHeld;

    private static bool ReleaseHeldCeilingNow()
    {
        t_ceilingHeld = false;
        return BackFromBoost();
    }

    /// <summary>
    /// After a copy's boost or idle slice: SCHED_OTHER at the thread's nice value, or back to SCHED_IDLE while the
    /// start-up is held below the restorer (the warm-up's stand-in copies otherwise freed the engine threads from it
    /// before the restorer connected: CI, 5 threads SCHED_IDLE while listening, none left at the bound).
    /// </summary>
    private static bool BackFromBoost()
    {
        var normal = ThreadScheduling.TrySetNormal();
        StartUpPriority.LowerCallingThread();
        return normal;
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Style", "IDE1006", Justification = "t_ marks a [ThreadStatic] field; naming rules cannot tell it from other statics")]
    [ThreadStatic]
    private static bool t_ceilingHeld;

    // Lends SCHED_FIFO 1 to the copier in the gate while a read waits for it. The holder's id is published and cleared
    // under the same lock as the boost, so a thread that already left is never boosted (it would stay real-time).
    private void BoostHolder()
    {
        lock (_boost)
        {
            if (_holderTid != 0 && !_holderBoosted && Volatile.Read(ref _readWanted) != 0)
            {
                _holderBoosted = ThreadScheduling.TrySetRealtime(_holderTid, 1);
                Volatile.Read(ref _helper)?.BoostWhileWorking();
            }
        }
    }

    // Whoever leaves the gate, or asks for a read, serves a pending request if it can take the gate; if the gate is
    // taken, its holder will see the request when it leaves. The request is published before the attempt and checked
    // after every exit, so none is lost.
    private bool ServeRequestedRead()
    {
        var served = false;
        while (Volatile.Read(ref _readWanted) != 0)
        {
            if (!_gate.TryEnter())
            {
                return served;
            }

            try
            {
                if (Interlocked.Exchange(ref _readWanted, 0) != 0)
                {
                    Volatile.Read(ref _read)?.Invoke();
                    served = true;
                }
            }
            finally
            {
                _gate.Exit();
            }
        }

        return served;
    }

    /// <summary>The gate held for one copy; disposing leaves it, serves a read requested meanwhile and drops a ceiling boost.</summary>
    public readonly struct CopyScope : IDisposable
    {
        private readonly UffdEventBarrier? _barrier;

        internal CopyScope(UffdEventBarrier barrier, bool ceilingBoosted, BackgroundPriority lowered)
        {
            _barrier = barrier;
            CeilingBoosted = ceilingBoosted;
            Lowered = lowered;
        }

        internal bool CeilingBoosted { get; }

        /// <summary>The priority this background slice was lowered to (<see cref="BackgroundPriority.Gate"/>: not lowered).</summary>
        internal BackgroundPriority Lowered { get; }

        /// <summary>Leaves the gate (and drops the ceiling priority if this copy took it, or raises a lowered slice again).</summary>
        public void Dispose() => _barrier?.ExitCopy(this);
    }
}
