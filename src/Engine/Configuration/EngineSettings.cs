using Akka.Configuration;
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
    public TimeSpan? AcceptTimeout { get; init; }

    /// <summary>Longest wait for each handshake read once connected.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Largest single UFFDIO_COPY.</summary>
    public int CopySliceBytes { get; init; } = 512 << 10;

    /// <summary>Largest read-ahead on sequential faults.</summary>
    public int FaultReadAheadMaxBytes { get; init; } = 256 << 10;

    /// <summary>Bytes copied at once when a fault hits data that arrived but is not copied yet.</summary>
    public int UrgentCopyWindowBytes { get; init; } = 64 << 10;

    /// <summary>First background chunk size (and after faults).</summary>
    public int ChunkInitialBytes { get; init; } = 64 << 10;

    /// <summary>Largest background chunk.</summary>
    public int ChunkMaxBytes { get; init; } = 4 << 20;

    /// <summary>False serves faults only: no background transfer at all.</summary>
    public bool BackgroundPush { get; init; } = true;

    /// <summary>Delay between "restore finished" and the start of background transfer (faults are served meanwhile).</summary>
    public TimeSpan BackgroundPushDelay { get; init; } = TimeSpan.Zero;

    /// <summary>Background chunks in flight per task.</summary>
    public int ChunksInFlightPerTask { get; init; } = 2;

    /// <summary>Background bytes in flight across all tasks.</summary>
    public long MaxBackgroundInFlightBytes { get; init; } = 64L << 20;

    /// <summary>Reads in flight on the page source.</summary>
    public int MaxConcurrentReads { get; init; } = 64;

    /// <summary>Size of each pooled buffer for small (fault) reads.</summary>
    public int FaultBufferBytes { get; init; } = 256 << 10;

    /// <summary>Number of pooled fault buffers.</summary>
    public int FaultBuffers { get; init; } = 16;

    /// <summary>Size of each pooled buffer for background reads.</summary>
    public int BulkBufferBytes { get; init; } = 4 << 20;

    /// <summary>Number of pooled background buffers.</summary>
    public int BulkBuffers { get; init; } = 8;

    /// <summary>EAGAIN retries done at once (after the mailbox is drained) before backing off.</summary>
    public int EagainImmediateRetries { get; init; } = 4;

    /// <summary>Largest delay between EAGAIN retries.</summary>
    public TimeSpan EagainMaxBackoff { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>EAGAIN attempts without progress before the task is failed.</summary>
    public int EagainRetryLimit { get; init; } = 400;

    /// <summary>
    /// Tasks whose pages are pushed at the same moment (round-robin over all of them); 0 = one less than the engine's
    /// dispatcher threads, so that one thread is always free to serve a fault while the others copy in bulk.
    /// </summary>
    public int BackgroundTasksAtOnce { get; init; }

    /// <summary>Chunks a pushing task gets in a row before it gives its place to a task waiting for one.</summary>
    public int BackgroundTurnChunks { get; init; } = 8;

    /// <summary><see cref="BackgroundTasksAtOnce"/> with 0 resolved against the dispatcher threads.</summary>
    public int EffectiveBackgroundTasksAtOnce => BackgroundTasksAtOnce > 0 ? BackgroundTasksAtOnce : Math.Max(1, DispatcherThreads - 1);

    /// <summary>Threads of the engine dispatcher (thread-count, 0 resolved to <see cref="DefaultDispatcherThreads"/>).</summary>
    public int DispatcherThreads { get; init; } = DefaultDispatcherThreads;

    /// <summary>Nice value of the engine's dispatcher threads (best effort); null = leave them at the process's.</summary>
    public int? EngineThreadsNice { get; init; } = -10;

    /// <summary>Ask for SCHED_FIFO (priority 1) for the epoll reader thread, falling back to <see cref="ReaderNice"/>.</summary>
    public bool ReaderRealtime { get; init; } = true;

    /// <summary>Nice value of the epoll reader thread when real-time is off or refused.</summary>
    public int ReaderNice { get; init; } = -10;

    /// <summary>How a copier holding a uffd gate is kept from being preempted, see <see cref="Scheduling.GatePriority"/>.</summary>
    public GatePriority GatePriority { get; init; } = GatePriority.Ceiling;

    /// <summary>
    /// Bytes the engine may allocate during a restore with the garbage collector held off (a GC stops every engine
    /// thread, and on a busy machine waiting for them all to stop takes milliseconds); null = collect as usual.
    /// </summary>
    public long? NoGcBudgetBytes { get; init; } = 128L << 20;

    /// <summary>The fault path's scheduling as the uffd layer takes it.</summary>
    public UffdScheduling UffdScheduling => new(ReaderRealtime, ReaderNice, GatePriority);

    /// <summary>Absolute path of the rendezvous socket.</summary>
    public string SocketPath => Path.Combine(Path.GetFullPath(WorkDirectory), Restorer.LazyPagesHandshake.SocketName);

    /// <summary>The embedded reference configuration (engine defaults plus Akka defaults for the engine).</summary>
    public static Config ReferenceConfig { get; } = LoadReference();

    /// <summary>Settings with the reference defaults.</summary>
    public static EngineSettings Create(string imagesDirectory, string? workDirectory = null) =>
        Create(ReferenceConfig, imagesDirectory, workDirectory);

    /// <summary>
    /// Reads <c>lazy-actors.engine</c> from <paramref name="config"/> (falling back to the reference config).
    /// </summary>
    /// <exception cref="ConfigurationException">The section is missing or a value is invalid.</exception>
    public static EngineSettings Create(Config config, string imagesDirectory, string? workDirectory = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(imagesDirectory);
        var merged = ReferenceEquals(config, ReferenceConfig) || config.IsEmpty ? ReferenceConfig : config.WithFallback(ReferenceConfig);
        var section = merged.GetConfig("lazy-actors.engine");
        if (section is null || section.IsEmpty)
        {
            throw ConfigurationException.NullOrEmptyConfig<EngineSettings>("lazy-actors.engine");
        }

        var accept = section.GetString("accept-timeout", "infinite");
        var settings = new EngineSettings
        {
            ImagesDirectory = Path.GetFullPath(imagesDirectory),
            WorkDirectory = Path.GetFullPath(workDirectory ?? imagesDirectory),
            AcceptTimeout = accept is "infinite" or "inf" or "off" ? null : section.GetTimeSpan("accept-timeout"),
            HandshakeTimeout = section.GetTimeSpan("handshake-timeout"),
            CopySliceBytes = Bytes(section, "copy-slice"),
            FaultReadAheadMaxBytes = Bytes(section, "fault-read-ahead-max"),
            UrgentCopyWindowBytes = Bytes(section, "urgent-copy-window"),
            ChunkInitialBytes = Bytes(section, "chunk-initial"),
            ChunkMaxBytes = Bytes(section, "chunk-max"),
            BackgroundPush = section.GetBoolean("background-push", true),
            BackgroundPushDelay = section.GetTimeSpan("background-push-delay"),
            ChunksInFlightPerTask = section.GetInt("chunks-in-flight-per-task"),
            MaxBackgroundInFlightBytes = section.GetByteSize("max-background-in-flight") ?? (64L << 20),
            MaxConcurrentReads = section.GetInt("max-concurrent-reads"),
            FaultBufferBytes = Bytes(section, "fault-buffer-size"),
            FaultBuffers = section.GetInt("fault-buffers"),
            BulkBufferBytes = Bytes(section, "bulk-buffer-size"),
            BulkBuffers = section.GetInt("bulk-buffers"),
            EagainImmediateRetries = section.GetInt("eagain-immediate-retries"),
            EagainMaxBackoff = section.GetTimeSpan("eagain-max-backoff"),
            EagainRetryLimit = section.GetInt("eagain-retry-limit"),
            BackgroundTasksAtOnce = section.GetInt("background-tasks-at-once", 0),
            BackgroundTurnChunks = section.GetInt("background-turn-chunks", 8),
            DispatcherThreads = ResolveDispatcherThreads(merged).GetInt(ThreadCountPath),
            EngineThreadsNice = section.GetString("scheduling.engine-threads-nice", "off") is "off" or "inherit" ? null : section.GetInt("scheduling.engine-threads-nice"),
            ReaderRealtime = section.GetBoolean("scheduling.reader-realtime", true),
            ReaderNice = section.GetInt("scheduling.reader-nice", -10),
            GatePriority = ParseGatePriority(section.GetString("scheduling.gate-priority", "ceiling")),
            NoGcBudgetBytes = section.GetString("no-gc-budget", "off") is "off" or "0" ? null : section.GetByteSize("no-gc-budget"),
        };
        settings.Validate();
        return settings;
    }

    /// <summary>Checks the values are usable.</summary>
    /// <exception cref="ConfigurationException">A size is not a positive multiple of 4096, or a count is below 1.</exception>
    public void Validate()
    {
        foreach (var (name, value) in new (string, long)[]
        {
            ("copy-slice", CopySliceBytes), ("fault-read-ahead-max", FaultReadAheadMaxBytes), ("urgent-copy-window", UrgentCopyWindowBytes),
            ("chunk-initial", ChunkInitialBytes), ("chunk-max", ChunkMaxBytes), ("fault-buffer-size", FaultBufferBytes),
            ("bulk-buffer-size", BulkBufferBytes),
        })
        {
            if (value < 4096 || value % 4096 != 0)
            {
                throw new ConfigurationException($"lazy-actors.engine.{name} must be a positive multiple of 4096 bytes, got {value}");
            }
        }

        foreach (var (name, nice) in new (string, int?)[] { ("engine-threads-nice", EngineThreadsNice), ("reader-nice", ReaderNice) })
        {
            if (nice is < -20 or > 19)
            {
                throw new ConfigurationException($"lazy-actors.engine.scheduling.{name} must be a nice value from -20 to 19, got {nice}");
            }
        }

        if (BackgroundTasksAtOnce < 0 || BackgroundTurnChunks < 1)
        {
            throw new ConfigurationException("lazy-actors.engine: background-tasks-at-once must be 0 (auto) or more, background-turn-chunks at least 1");
        }

        if (ChunksInFlightPerTask < 1 || MaxConcurrentReads < 1 || FaultBuffers < 1 || BulkBuffers < 1 || EagainRetryLimit < 1
            || ChunkInitialBytes > ChunkMaxBytes || MaxBackgroundInFlightBytes < ChunkMaxBytes)
        {
            throw new ConfigurationException("lazy-actors.engine: counts must be at least 1, chunk-initial <= chunk-max <= max-background-in-flight");
        }
    }

    private static GatePriority ParseGatePriority(string value) => value switch
    {
        "ceiling" => GatePriority.Ceiling,
        "inherit" => GatePriority.Inherit,
        "off" => GatePriority.Off,
        _ => throw new ConfigurationException($"lazy-actors.engine.scheduling.gate-priority must be ceiling, inherit or off, got \"{value}\""),
    };

    private static int Bytes(Config section, string key)
    {
        var value = section.GetByteSize(key) ?? throw new ConfigurationException($"lazy-actors.engine.{key} is missing");
        return checked((int)value);
    }

    private static Config LoadReference()
    {
        var assembly = typeof(EngineSettings).Assembly;
        using var stream = assembly.GetManifestResourceStream("LazyActors.Engine.Configuration.Reference.conf")
            ?? throw new InvalidOperationException("embedded resource LazyActors.Engine.Configuration.Reference.conf is missing");
        using var reader = new StreamReader(stream);
        return ResolveDispatcherThreads(ConfigurationFactory.ParseString(reader.ReadToEnd()));
    }

    private const string ThreadCountPath = "lazy-actors.engine.dispatcher.dedicated-thread-pool.thread-count";

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
        return config.HasPath(ThreadCountPath) && config.GetInt(ThreadCountPath) == 0
            ? ConfigurationFactory.ParseString($"{ThreadCountPath} = {DefaultDispatcherThreads}").WithFallback(config)
            : config;
    }
}
