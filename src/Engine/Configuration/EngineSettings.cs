using Akka.Configuration;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Scheduling;

namespace LazyActors.Engine.Configuration;

/// <summary>
/// Everything the lazy-pages engine needs to run one restore: where the images and the socket are, plus the tuning
/// read from HOCON (<c>lazy-actors.engine</c>, defaults in the embedded <c>Reference.conf</c>).
/// </summary>
public sealed record EngineSettings
{
    /// <summary>The dispatcher (dedicated threads) every engine actor runs on; defined in the reference config.</summary>
    public const string DispatcherId = "lazy-actors.engine.dispatcher";

    /// <summary>Checkpoint image directory (<c>-D</c>).</summary>
    public required string ImagesDirectory { get; init; }

    /// <summary>Work directory holding <c>lazy-pages.socket</c> (<c>-W</c>, defaulting to the images directory).</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>Longest wait for the restorer to connect; null waits forever (cancellable).</summary>
    public required TimeSpan? AcceptTimeout { get; init; }

    /// <summary>Longest wait for each handshake read once connected.</summary>
    public required TimeSpan HandshakeTimeout { get; init; }

    /// <summary>
    /// Uids besides the daemon's own effective uid whose processes may connect to <c>lazy-pages.socket</c> as the
    /// restorer (SO_PEERCRED); any other peer is refused and logged. The socket file is created 0600 as well.
    /// </summary>
    public required IReadOnlyList<uint> RestorerAllowedUids { get; init; }

    /// <summary>Largest single UFFDIO_COPY.</summary>
    public required int CopySliceBytes { get; init; }

    /// <summary>
    /// Background slice while the tree has fewer tasks than CPUs: copied in two halves at once by the task's thread and
    /// the restore's <see cref="Uffd.SecondCopier"/>; null = off (every slice is copy-slice, on one thread).
    /// </summary>
    public required long? SecondCopierSliceBytes { get; init; }

    /// <summary>
    /// Whether the second copier moves its split point towards the thread that finishes last (see
    /// <see cref="Uffd.SecondCopier.SplitPoint"/>) instead of always splitting in the middle.
    /// </summary>
    public required bool SecondCopierBalance { get; init; }

    /// <summary>
    /// Whether a task's background chunk may use the second copier while the task's main thread is running (computing on
    /// pages it has): always, never, or only while it reads in order at the push front (see
    /// <see cref="Scheduling.SecondCopierWhileTaskRuns"/> and <see cref="Scheduling.TaskRunState"/>).
    /// </summary>
    public SecondCopierWhileTaskRuns SecondCopierWhileTaskRuns { get; init; } = SecondCopierWhileTaskRuns.WhenHeldUp;

    /// <summary>
    /// Non-null: a split slice is copied in pieces of this many bytes that the task's thread claims from its start and
    /// the second copier from its end until they meet (<see cref="Uffd.SecondCopier.CopyFromBothEnds"/>); null: two
    /// fixed halves.
    /// </summary>
    public long? SecondCopierPieceBytes { get; init; }

    /// <summary>Rounds the second copier spins for its next slice before it blocks (0: blocks at once).</summary>
    public int SecondCopierHelperSpin { get; init; }

    /// <summary>The restore's second copier, or null when <see cref="SecondCopierSliceBytes"/> is off.</summary>
    public Uffd.SecondCopier? CreateSecondCopier() => CreateSecondCopier(BackgroundPriorityPhases.Fixed(BackgroundPriority));

    /// <summary>The restore's second copier following <paramref name="phases"/>, or null when <see cref="SecondCopierSliceBytes"/> is off.</summary>
    public Uffd.SecondCopier? CreateSecondCopier(BackgroundPriorityPhases phases) =>
        SecondCopierSliceBytes is null ? null : new Uffd.SecondCopier(GatePriority, EngineThreadsNice, phases, SecondCopierBalance, (ulong)(SecondCopierPieceBytes ?? 0), SecondCopierHelperSpin);

    /// <summary>Largest read-ahead on sequential faults.</summary>
    public required int FaultReadAheadMaxBytes { get; init; }

    /// <summary>Read-ahead of a fault that does not follow the previous one (a random fault): the pages claimed from
    /// the faulting page on; sequential faults double it up to <see cref="FaultReadAheadMaxBytes"/>.</summary>
    public required int FaultReadAheadMinBytes { get; init; }

    /// <summary>
    /// A fault farther than this from the task's previous fault is scattered: it neither moves the task's next
    /// background chunk near it nor makes that chunk small (a task touching at random would otherwise keep its push
    /// at chunk-initial). Null (off): every fault does both.
    /// </summary>
    public long? ScatteredFaultDistanceBytes { get; init; }

    /// <summary>
    /// A scattered fault (see <see cref="ScatteredFaultDistanceBytes"/>) claims the whole aligned window of this size
    /// around its page instead of the read-ahead from the page on: the part from the page on is copied first (it wakes
    /// the task), the part before it right after. Aligned windows never overlap, so a task touching at random faults at
    /// most once per window (128 MiB at 512 KiB: 256 faults, under 1 % of its 32,768 pages, where read-ahead from the
    /// faulting page takes up to ~2,700 at 128 KiB), and its first-touch p99 is no longer a fault's time. Null (off):
    /// scattered faults claim fault-read-ahead-min from the page on.
    /// </summary>
    public long? ScatteredFaultWindowBytes { get; init; }

    /// <summary>
    /// <see cref="ScatteredFaultWindowBytes"/> as the fault path uses it: never above chunk-max (a claim is at most one
    /// chunk), so a window larger than a user's smaller chunk-max is cut to the largest power of two within it instead of
    /// making that chunk-max invalid (the 512 KiB default with chunk-max = 256KiB); 0 when off.
    /// </summary>
    public long EffectiveScatteredFaultWindowBytes =>
        ScatteredFaultWindowBytes is { } window ? Math.Min(window, (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)ChunkMaxBytes + 1) >> 1) : 0;

    /// <summary>Bytes copied at once when a fault hits data that arrived but is not copied yet.</summary>
    public required int UrgentCopyWindowBytes { get; init; }

    /// <summary>
    /// A task that faults forward in sequence at its push front (its last four faults each after the previous one, at
    /// most chunk-max on: <see cref="Actors.FaultLocality.FollowingFront"/>) is followed by the push instead of being
    /// served in small fault-sized copies: such faults do not shrink its chunks, and a fault on a page the next
    /// background piece copies anyway waits for that piece rather than copying an urgent window of its own. Random
    /// faults are served as without it (see docs/benchmarks.md, front31 and follow40).
    /// </summary>
    public required bool PushFrontFollowing { get; init; }

    /// <summary>
    /// A fault on a page whose background read (through the page cache) has not arrived yet reads a window of its own
    /// with fault priority, never joining that read, and copies it first; the background copy later meets those pages
    /// as already copied. Off (the default) the fault waits for the background read. Set from
    /// <see cref="RemoteFetchSettings.FaultOvertakesBackground"/> in a remote restore, where a background read can be
    /// megabytes behind tens of megabytes on the wire.
    /// </summary>
    public bool FaultOvertakesBackgroundReads { get; init; }

    /// <summary>
    /// Bytes of every task claimed and read (background priority) as soon as its uffd arrives, while the restorer still
    /// runs; copied once "restore finished" arrives, ahead of the pusher's chunks. 0 (the default): nothing is read
    /// before "restore finished" but faults. Set from <see cref="RemoteFetchSettings.PrefetchDuringRestoreBytes"/> in
    /// a remote restore, where the source's round trips and bytes can overlap `criu restore` itself.
    /// </summary>
    public long PrefetchDuringRestoreBytes { get; init; }

    /// <summary>First background chunk size (and after faults).</summary>
    public required int ChunkInitialBytes { get; init; }

    /// <summary>Largest background chunk.</summary>
    public required int ChunkMaxBytes { get; init; }

    /// <summary>False serves faults only: no background transfer at all.</summary>
    public required bool BackgroundPush { get; init; }

    /// <summary>Delay between "restore finished" and the start of background transfer (faults are served meanwhile).</summary>
    public required TimeSpan BackgroundPushDelay { get; init; }

    /// <summary>Background chunks in flight per task.</summary>
    public required int ChunksInFlightPerTask { get; init; }

    /// <summary>Background bytes in flight across all tasks.</summary>
    public required long MaxBackgroundInFlightBytes { get; init; }

    /// <summary>Reads in flight on the page source.</summary>
    public required int MaxConcurrentReads { get; init; }

    /// <summary>Size of each pooled buffer for small (fault) reads.</summary>
    public required int FaultBufferBytes { get; init; }

    /// <summary>Number of pooled fault buffers.</summary>
    public required int FaultBuffers { get; init; }

    /// <summary>Size of each pooled buffer for background reads.</summary>
    public required int BulkBufferBytes { get; init; }

    /// <summary>Number of pooled background buffers.</summary>
    public required int BulkBuffers { get; init; }

    /// <summary>
    /// How long a task may be idle (no fault, event or copy) before its uffd is probed for the task's exit (see
    /// <c>LivenessProbe</c>); null = never probe (a dead task is then noticed only by a failing copy, as in CRIU).
    /// </summary>
    public required TimeSpan? LivenessProbeInterval { get; init; }

    /// <summary>EAGAIN retries done at once (after the mailbox is drained) before backing off.</summary>
    public required int EagainImmediateRetries { get; init; }

    /// <summary>Largest delay between EAGAIN retries.</summary>
    public required TimeSpan EagainMaxBackoff { get; init; }

    /// <summary>EAGAIN attempts without progress before the task is failed.</summary>
    public required int EagainRetryLimit { get; init; }

    /// <summary>
    /// Tasks whose pages are pushed at the same moment (round-robin over all of them); 0 = one less than the engine's
    /// dispatcher threads, so that one thread is always free to serve a fault while the others copy in bulk.
    /// </summary>
    public required int BackgroundTasksAtOnce { get; init; }

    /// <summary>Chunks a pushing task gets in a row before it gives its place to a task waiting for one.</summary>
    public required int BackgroundTurnChunks { get; init; }

    /// <summary><see cref="BackgroundTasksAtOnce"/> with 0 resolved against the dispatcher threads.</summary>
    public int EffectiveBackgroundTasksAtOnce => BackgroundTasksAtOnce > 0 ? BackgroundTasksAtOnce : Math.Max(1, DispatcherThreads - 1);

    /// <summary>Threads of the engine dispatcher (thread-count, 0 resolved to <see cref="DefaultDispatcherThreads"/>).</summary>
    public required int DispatcherThreads { get; init; }

    /// <summary>Nice value of the engine's dispatcher threads (best effort); null = leave them at the process's.</summary>
    public required int? EngineThreadsNice { get; init; }

    /// <summary>Ask for SCHED_FIFO (priority 1) for the epoll reader thread, falling back to <see cref="ReaderNice"/>.</summary>
    public required bool ReaderRealtime { get; init; }

    /// <summary>Nice value of the epoll reader thread when real-time is off or refused.</summary>
    public required int ReaderNice { get; init; }

    /// <summary>How a copier holding a uffd gate is kept from being preempted, see <see cref="Scheduling.GatePriority"/>.</summary>
    public required GatePriority GatePriority { get; init; }

    /// <summary>
    /// True (the default): the engine dispatcher is Akka's ForkJoinDispatcher, whose idle threads spin before they sleep;
    /// false: it runs on <see cref="Scheduling.EngineThreadsExecutor"/>, whose threads sleep as soon as nothing is queued.
    /// </summary>
    public required bool DispatcherIdleSpin { get; init; }

    /// <summary>How background slices (and the second copier) are scheduled, see <see cref="Scheduling.BackgroundPriority"/>.</summary>
    public BackgroundPriority BackgroundPriority { get; init; } = BackgroundPriority.Gate;

    /// <summary>
    /// How background slices (and the second copier) are scheduled after "restore finished" until <c>criu restore</c>
    /// has gone (closed the lazy-pages socket); null: <see cref="BackgroundPriority"/> throughout.
    /// </summary>
    public BackgroundPriority? BackgroundPriorityWhileRestorerRuns { get; init; }

    /// <summary>The longest <see cref="BackgroundPriorityWhileRestorerRuns"/> lasts after "restore finished".</summary>
    public TimeSpan RestorerExitWait { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Whether the daemon's start-up work after readiness (the actor system, the warm-up) runs SCHED_IDLE until the
    /// restorer connects, below <c>criu restore</c> (<see cref="Scheduling.StartUpPriority"/>); applied only when
    /// <see cref="OwnsProcess"/>.
    /// </summary>
    public bool StartUpBelowRestorer { get; init; }

    /// <summary>
    /// Whether the one-shot daemon signals readiness only once its start-up work is done
    /// (<see cref="LazyPagesEngine.StartUpDone"/>, bounded) instead of as soon as the socket listens.
    /// </summary>
    public bool ReadyAfterStartUp { get; init; }

    /// <summary>
    /// The nice value every thread of the daemon takes once every task is complete (the tear-down then runs below the
    /// restored program), or null to leave them; applied only when <see cref="OwnsProcess"/>.
    /// </summary>
    public int? AfterRestoreNice { get; init; }

    /// <summary>
    /// Set by the one-shot daemon, which owns its process: the engine may then change the scheduling of every thread of
    /// the process (<see cref="StartUpBelowRestorer"/>, <see cref="AfterRestoreNice"/>). False in a host or a test
    /// process, where those settings are ignored. Not a configuration key.
    /// </summary>
    public bool OwnsProcess { get; init; }

    /// <summary>Whether a big zero-copy read's mapped pages are mapped with MADV_POPULATE_READ before the copy
    /// (<c>mapped-pages-populate</c>).</summary>
    public bool MappedPagesPopulate { get; init; }

    /// <summary>Whether a big zero-copy read's mapped pages are given back (MADV_DONTNEED) after the copy
    /// (<c>mapped-pages-release</c>).</summary>
    public bool MappedPagesRelease { get; init; } = true;

    /// <summary>How big copies of a local restore read the pages files (<c>local-bulk-read</c>).</summary>
    public LocalBulkRead LocalBulkRead { get; init; }

    /// <summary>Bytes per pread and UFFDIO_COPY with <see cref="LocalBulkRead.Pread"/> (<c>local-bulk-read-piece</c>).</summary>
    public int LocalBulkReadPieceBytes { get; init; } = 512 << 10;

    /// <summary>Whether fault windows are read with pread too, not only background slices (<c>local-bulk-read-faults</c>).</summary>
    public bool LocalBulkReadFaults { get; init; } = true;

    /// <summary>The restore's pread staging (<see cref="Uffd.PagesFileStaging"/>), or null with <see cref="LocalBulkRead.Mapped"/>.</summary>
    public Uffd.PagesFileStaging? CreatePagesFileStaging() =>
        LocalBulkRead == LocalBulkRead.Pread ? new Uffd.PagesFileStaging(LocalBulkReadPieceBytes, LocalBulkReadFaults) : null;

    /// <summary>
    /// Whether the one-shot daemon, once its restore has an outcome, leaves the tear-down to the process's exit: the
    /// no-GC region stays, the actors are not stopped nor the actor system terminated, the mappings and uffds are
    /// released by the kernel (<c>quick-exit</c>); applied only when <see cref="OwnsProcess"/>.
    /// </summary>
    public bool QuickExit { get; init; }

    /// <summary>A restore's background priority over time (one object per restore: the restorer's exit moves it on).</summary>
    public BackgroundPriorityPhases CreateBackgroundPhases() =>
        new(BackgroundPriorityWhileRestorerRuns ?? BackgroundPriority, BackgroundPriority, RestorerExitWait);

    /// <summary>
    /// Bytes the engine may allocate during a restore with the garbage collector held off (a GC stops every engine
    /// thread, and on a busy machine waiting for them all to stop takes milliseconds); null = collect as usual.
    /// </summary>
    public required long? NoGcBudgetBytes { get; init; }

    /// <summary>How a remote restore uses its page source (<c>lazy-actors.engine.remote</c>).</summary>
    public required RemoteFetchSettings Remote { get; init; }

    /// <summary>Surviving a daemon crash: the guardian, its restart budget and give-up (<c>crash-safety</c>).</summary>
    public required CrashSafetySettings CrashSafety { get; init; }

    /// <summary>
    /// Faults to inject into every restore (tests and the soak only, <c>fault-injection</c>; see
    /// <see cref="Faults.FaultPlan"/>); null = none, and then no fault-injection code runs at all.
    /// </summary>
    public Faults.FaultPlan? FaultInjection { get; init; }

    /// <summary>
    /// These settings for a remote restore: the background values of <see cref="Remote"/> (more and bigger chunks in
    /// flight, since each waits a network round trip) replace the engine's own.
    /// </summary>
    public EngineSettings ForRemoteSource() => this with
    {
        ChunksInFlightPerTask = Remote.ChunksInFlightPerTask,
        BackgroundTasksAtOnce = Remote.BackgroundTasksAtOnce,
        FaultReadAheadMaxBytes = Remote.FaultReadAheadMaxBytes,
        BulkBuffers = Remote.BulkBuffers,
        FaultOvertakesBackgroundReads = Remote.FaultOvertakesBackground,
        PrefetchDuringRestoreBytes = Remote.PrefetchDuringRestoreBytes,
        DispatcherIdleSpin = Remote.DispatcherIdleSpin ?? DispatcherIdleSpin,
    };

    /// <summary>The fault path's scheduling as the uffd layer takes it.</summary>
    public UffdScheduling UffdScheduling => new(ReaderRealtime, ReaderNice, GatePriority, BackgroundPriority);

    /// <summary>Absolute path of the rendezvous socket.</summary>
    public string SocketPath => Path.Combine(Path.GetFullPath(WorkDirectory), Restorer.LazyPagesHandshake.SocketName);

    /// <summary>The embedded reference configuration (engine defaults plus Akka defaults for the engine).</summary>
    public static Config ReferenceConfig { get; } = LoadReference();

    /// <summary>Settings with the reference defaults.</summary>
    public static EngineSettings Create(string imagesDirectory, string? workDirectory = null) =>
        Create(ReferenceConfig, imagesDirectory, workDirectory);

    /// <summary>
    /// Reads <c>lazy-actors.engine</c> from <paramref name="config"/> (falling back to the reference config, which holds
    /// every default).
    /// </summary>
    /// <exception cref="ConfigurationException">The section or a key is missing, or a value is invalid (the message names
    /// the key).</exception>
    public static EngineSettings Create(Config config, string imagesDirectory, string? workDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(imagesDirectory);
        var merged = ReferenceEquals(config, ReferenceConfig) || config.IsEmpty ? ReferenceConfig : config.WithFallback(ReferenceConfig);
        var section = merged.GetConfig(SectionPath);
        if (section is null || section.IsEmpty)
        {
            throw ConfigurationException.NullOrEmptyConfig<EngineSettings>(SectionPath);
        }

        var keys = new RequiredKeys(section, SectionPath);
        var settings = new EngineSettings
        {
            ImagesDirectory = Path.GetFullPath(imagesDirectory),
            WorkDirectory = Path.GetFullPath(workDirectory ?? imagesDirectory),
            AcceptTimeout = keys.DurationOr("accept-timeout", "infinite", "inf", "off"),
            HandshakeTimeout = keys.Duration("handshake-timeout"),
            RestorerAllowedUids = keys.Uids("restorer-allowed-uids"),
            CopySliceBytes = keys.SmallBytes("copy-slice"),
            SecondCopierSliceBytes = keys.BytesOr("second-copier-slice", "off"),
            SecondCopierBalance = keys.Boolean("second-copier-balance"),
            SecondCopierWhileTaskRuns = keys.OneOf("second-copier-while-task-runs", ("on", SecondCopierWhileTaskRuns.Always),
                ("off", SecondCopierWhileTaskRuns.Never), ("following", SecondCopierWhileTaskRuns.WhenFollowing),
                ("held-up", SecondCopierWhileTaskRuns.WhenHeldUp)),
            SecondCopierPieceBytes = keys.BytesOr("second-copier-piece", "off"),
            SecondCopierHelperSpin = keys.Int("second-copier-helper-spin"),
            FaultReadAheadMaxBytes = keys.SmallBytes("fault-read-ahead-max"),
            FaultReadAheadMinBytes = keys.SmallBytes("fault-read-ahead-min"),
            ScatteredFaultDistanceBytes = keys.BytesOr("scattered-fault-distance", "off"),
            ScatteredFaultWindowBytes = keys.BytesOr("scattered-fault-window", "off"),
            UrgentCopyWindowBytes = keys.SmallBytes("urgent-copy-window"),
            PushFrontFollowing = keys.Boolean("push-front-following"),
            ChunkInitialBytes = keys.SmallBytes("chunk-initial"),
            ChunkMaxBytes = keys.SmallBytes("chunk-max"),
            BackgroundPush = keys.Boolean("background-push"),
            BackgroundPushDelay = keys.Duration("background-push-delay"),
            ChunksInFlightPerTask = keys.Int("chunks-in-flight-per-task"),
            MaxBackgroundInFlightBytes = keys.Bytes("max-background-in-flight"),
            MaxConcurrentReads = keys.Int("max-concurrent-reads"),
            FaultBufferBytes = keys.SmallBytes("fault-buffer-size"),
            FaultBuffers = keys.Int("fault-buffers"),
            BulkBufferBytes = keys.SmallBytes("bulk-buffer-size"),
            BulkBuffers = keys.Int("bulk-buffers"),
            LivenessProbeInterval = keys.DurationOr("liveness-probe-interval", "off"),
            EagainImmediateRetries = keys.Int("eagain-immediate-retries"),
            EagainMaxBackoff = keys.Duration("eagain-max-backoff"),
            EagainRetryLimit = keys.Int("eagain-retry-limit"),
            BackgroundTasksAtOnce = keys.Int("background-tasks-at-once"),
            BackgroundTurnChunks = keys.Int("background-turn-chunks"),
            DispatcherThreads = ThreadsOrDefault(keys.Int(ThreadCountKey)),
            EngineThreadsNice = keys.IntOr("scheduling.engine-threads-nice", "off", "inherit"),
            ReaderRealtime = keys.Boolean("scheduling.reader-realtime"),
            ReaderNice = keys.Int("scheduling.reader-nice"),
            GatePriority = keys.OneOf("scheduling.gate-priority", ("ceiling", GatePriority.Ceiling), ("ceiling-held", GatePriority.CeilingHeld), ("inherit", GatePriority.Inherit), ("off", GatePriority.Off)),
            DispatcherIdleSpin = keys.Boolean("scheduling.dispatcher-idle-spin"),
            BackgroundPriority = keys.OneOf("scheduling.background-priority", ("gate", BackgroundPriority.Gate), ("normal", BackgroundPriority.Normal), ("idle", BackgroundPriority.Idle)),
            BackgroundPriorityWhileRestorerRuns = keys.OneOf<BackgroundPriority?>("scheduling.background-priority-while-restorer-runs",
                ("same", null), ("gate", BackgroundPriority.Gate), ("normal", BackgroundPriority.Normal), ("idle", BackgroundPriority.Idle)),
            RestorerExitWait = keys.Duration("scheduling.restorer-exit-wait"),
            StartUpBelowRestorer = keys.Boolean("scheduling.start-up-below-restorer"),
            ReadyAfterStartUp = keys.Boolean("scheduling.ready-after-start-up"),
            QuickExit = keys.Boolean("quick-exit"),
            MappedPagesPopulate = keys.Boolean("mapped-pages-populate"),
            MappedPagesRelease = keys.Boolean("mapped-pages-release"),
            LocalBulkRead = keys.OneOf("local-bulk-read", ("mapped", LocalBulkRead.Mapped), ("pread", LocalBulkRead.Pread)),
            LocalBulkReadPieceBytes = keys.SmallBytes("local-bulk-read-piece"),
            LocalBulkReadFaults = keys.Boolean("local-bulk-read-faults"),
            AfterRestoreNice = keys.IntOr("scheduling.after-restore-nice", "off"),
            NoGcBudgetBytes = keys.BytesOr("no-gc-budget", "off", "0"),
            Remote = RemoteFetchSettings.Read(keys),
            CrashSafety = CrashSafetySettings.Read(keys),
            FaultInjection = ReadFaultPlan(keys),
        };
        settings.Validate();
        return settings;
    }

    private static Faults.FaultPlan? ReadFaultPlan(RequiredKeys keys)
    {
        var text = keys.String("fault-injection");
        if (text is "off" or "")
        {
            return null;
        }

        try
        {
            return Faults.FaultPlan.Parse(text);
        }
        catch (FormatException ex)
        {
            throw keys.Invalid("fault-injection", ex.Message);
        }
    }

    /// <summary>Checks the values are usable (also after <c>with</c>).</summary>
    /// <exception cref="ConfigurationException">A value is out of range; the message names its key.</exception>
    public void Validate()
    {
        foreach (var (key, value) in new (string, long)[]
        {
            ("copy-slice", CopySliceBytes), ("fault-read-ahead-max", FaultReadAheadMaxBytes), ("fault-read-ahead-min", FaultReadAheadMinBytes), ("urgent-copy-window", UrgentCopyWindowBytes),
            ("chunk-initial", ChunkInitialBytes), ("chunk-max", ChunkMaxBytes), ("fault-buffer-size", FaultBufferBytes),
            ("bulk-buffer-size", BulkBufferBytes), ("local-bulk-read-piece", LocalBulkReadPieceBytes),
        })
        {
            if (value < (long)PageGeometry.PageSize || value % (long)PageGeometry.PageSize != 0)
            {
                throw Invalid(key, $"must be a positive multiple of {PageGeometry.PageSize} bytes, got {value}");
            }
        }

        if (LocalBulkReadPieceBytes > Uffd.PagesFileStaging.MaxPieceBytes)
        {
            throw Invalid("local-bulk-read-piece", $"must be at most {Uffd.PagesFileStaging.MaxPieceBytes} bytes (each copying thread holds one), got {LocalBulkReadPieceBytes}");
        }

        foreach (var (key, value, least) in new (string, long, long)[]
        {
            ("chunks-in-flight-per-task", ChunksInFlightPerTask, 1), ("max-concurrent-reads", MaxConcurrentReads, 1),
            ("fault-buffers", FaultBuffers, 1), ("bulk-buffers", BulkBuffers, 1), ("eagain-retry-limit", EagainRetryLimit, 1),
            ("eagain-immediate-retries", EagainImmediateRetries, 0), ("background-tasks-at-once", BackgroundTasksAtOnce, 0),
            ("background-turn-chunks", BackgroundTurnChunks, 1), (ThreadCountKey, DispatcherThreads, 1),
        })
        {
            if (value < least)
            {
                throw Invalid(key, $"must be at least {least}, got {value}");
            }
        }

        foreach (var (key, nice) in new (string, int?)[] { ("scheduling.engine-threads-nice", EngineThreadsNice), ("scheduling.reader-nice", ReaderNice), ("scheduling.after-restore-nice", AfterRestoreNice) })
        {
            if (nice is < -20 or > 19)
            {
                throw Invalid(key, $"must be a nice value from -20 to 19, got {nice}");
            }
        }

        if (SecondCopierSliceBytes is { } split && (split < 2 * (long)Uffd.SecondCopier.MinSplitBytes || split % (long)PageGeometry.PageSize != 0 || split > int.MaxValue))
        {
            throw Invalid("second-copier-slice", $"must be off or a multiple of {PageGeometry.PageSize} bytes from {2 * Uffd.SecondCopier.MinSplitBytes} up, got {split}");
        }

        if (SecondCopierPieceBytes is { } piece && (piece < (long)PageGeometry.PageSize || piece % (long)PageGeometry.PageSize != 0 || piece > (long)Uffd.SecondCopier.MaxPieceBytes))
        {
            throw Invalid("second-copier-piece", $"must be off or a multiple of {PageGeometry.PageSize} bytes up to {Uffd.SecondCopier.MaxPieceBytes}, got {piece}");
        }

        if (SecondCopierHelperSpin is < 0 or > Uffd.SecondCopier.MaxHelperSpin)
        {
            throw Invalid("second-copier-helper-spin", $"must be from 0 to {Uffd.SecondCopier.MaxHelperSpin}, got {SecondCopierHelperSpin}");
        }

        if (LivenessProbeInterval is { } probe && probe <= TimeSpan.Zero)
        {
            throw Invalid("liveness-probe-interval", $"must be positive or off, got {probe}");
        }

        if (RestorerExitWait < TimeSpan.Zero)
        {
            throw Invalid("scheduling.restorer-exit-wait", $"must not be negative, got {RestorerExitWait}");
        }

        if (ScatteredFaultDistanceBytes is { } scatter && (scatter < (long)PageGeometry.PageSize || scatter % (long)PageGeometry.PageSize != 0))
        {
            throw Invalid("scattered-fault-distance", $"must be off or a positive multiple of {PageGeometry.PageSize} bytes, got {scatter}");
        }

        if (ScatteredFaultWindowBytes is { } window && (window < (long)PageGeometry.PageSize || (window & (window - 1)) != 0))
        {
            throw Invalid("scattered-fault-window", $"must be off or a power of two of at least {PageGeometry.PageSize} bytes (cut to chunk-max, {ChunkMaxBytes} bytes, where larger), got {window}");
        }

        if (FaultReadAheadMinBytes > FaultReadAheadMaxBytes)
        {
            throw Invalid("fault-read-ahead-min", $"({FaultReadAheadMinBytes} bytes) must not exceed fault-read-ahead-max ({FaultReadAheadMaxBytes} bytes)");
        }

        if (ChunkInitialBytes > ChunkMaxBytes)
        {
            throw Invalid("chunk-initial", $"({ChunkInitialBytes} bytes) must not exceed chunk-max ({ChunkMaxBytes} bytes)");
        }

        if (MaxBackgroundInFlightBytes < ChunkMaxBytes)
        {
            throw Invalid("max-background-in-flight", $"({MaxBackgroundInFlightBytes} bytes) must be at least chunk-max ({ChunkMaxBytes} bytes)");
        }

        Remote.Validate(Invalid);
        CrashSafety.Validate(Invalid);
    }

    /// <summary>
    /// Threads of the engine dispatcher when its thread-count is 0: one per CPU for bulk copying plus one that is always
    /// free for faults (see background-tasks-at-once); at least 3, at most 9.
    /// </summary>
    public static int DefaultDispatcherThreads => Math.Clamp(Environment.ProcessorCount + 1, 3, 9);

    /// <summary>
    /// Replaces a dispatcher thread-count of 0 ("one per CPU") in <paramref name="config"/> by
    /// <see cref="DefaultDispatcherThreads"/>, so that Akka, which takes the number literally, gets a usable pool.
    /// </summary>
    public static Config ResolveDispatcherThreads(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.HasPath(ThreadCountPath) && config.GetInt(ThreadCountPath) == 0 ? DispatcherThreadsConfig(DefaultDispatcherThreads).WithFallback(config) : config;
    }

    /// <summary>
    /// The Akka configuration of a restore: the engine dispatcher with <see cref="DispatcherThreads"/> threads (so the
    /// actor system runs exactly what these settings say), then <paramref name="akkaConfig"/>, then the reference.
    /// </summary>
    // Akka creates its scheduler by name from akka.scheduler.implementation (Reference.conf), and the executor's
    // configurator by its type name: keep their constructors for the NativeAOT program whatever the trimmer sees.
    [System.Diagnostics.CodeAnalysis.DynamicDependency(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors, typeof(Hosting.DeadlineScheduler))]
    [System.Diagnostics.CodeAnalysis.DynamicDependency(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors, typeof(Scheduling.EngineThreadsExecutorConfigurator))]
    public Config ActorSystemConfig(Config? akkaConfig)
    {
        var dispatcher = DispatcherThreadsConfig(DispatcherThreads);
        if (!DispatcherIdleSpin)
        {
            dispatcher = ConfigurationFactory.ParseString(
                $"{SectionPath}.dispatcher {{ type = Dispatcher, executor = \"{Scheduling.EngineThreadsExecutorConfigurator.ExecutorName}\" }}").WithFallback(dispatcher);
        }

        return dispatcher.WithFallback(akkaConfig ?? Config.Empty).WithFallback(ReferenceConfig);
    }

    private const string SectionPath = "lazy-actors.engine";
    private const string ThreadCountKey = "dispatcher.dedicated-thread-pool.thread-count";
    private const string ThreadCountPath = SectionPath + "." + ThreadCountKey;

    private static int ThreadsOrDefault(int threadCount) => threadCount == 0 ? DefaultDispatcherThreads : threadCount;

    private static Config DispatcherThreadsConfig(int threads) =>
        ConfigurationFactory.ParseString(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{ThreadCountPath} = {threads}"));

    private static ConfigurationException Invalid(string key, string problem) => new($"{SectionPath}.{key} {problem}");

    private static Config LoadReference()
    {
        var assembly = typeof(EngineSettings).Assembly;
        using var stream = assembly.GetManifestResourceStream("LazyActors.Engine.Configuration.Reference.conf")
            ?? throw new InvalidOperationException("embedded resource LazyActors.Engine.Configuration.Reference.conf is missing");
        using var reader = new StreamReader(stream);
        return ResolveDispatcherThreads(ConfigurationFactory.ParseString(reader.ReadToEnd()));
    }
}
