namespace LazyActors.Engine.Diagnostics;

/// <summary>
/// The steps of a daemon's start-up that <see cref="StartupTrace"/> times (the local path's in their usual order, then the
/// remote path's; the trace lists them by time).
/// </summary>
public enum StartupStep
{
    /// <summary>The program's entry point ran (the runtime is up).</summary>
    Main,

    /// <summary>The configuration is read (HOCON, engine settings).</summary>
    SettingsRead,

    /// <summary>The checkpoint is opened and checked.</summary>
    CheckpointOpened,

    /// <summary><c>lazy-pages.socket</c> listens.</summary>
    Listening,

    /// <summary>Readiness was signalled (the <c>--status-fd</c> byte written).</summary>
    ReadySignalled,

    /// <summary>The actor system is created.</summary>
    ActorSystemUp,

    /// <summary>The warm-up's stand-in tasks ran, or their 5 s bound passed (before the restorer connects, when the
    /// system was built early).</summary>
    EarlyWarmUpDone,

    /// <summary>The page source is open and the uffd hub started.</summary>
    SourceReady,

    /// <summary>Garbage collections are held off (<c>no-gc-budget</c>; it starts with a full collection).</summary>
    NoGcRegionStarted,

    /// <summary>The restorer's connection was accepted.</summary>
    RestorerAccepted,

    /// <summary>The restore's supervisor and its page cache and pusher are started.</summary>
    SupervisorStarted,

    /// <summary>The first task's userfaultfd arrived.</summary>
    FirstUffd,

    /// <summary>A restored task's first fault was answered.</summary>
    FirstFaultServed,

    /// <summary>The restorer said "restore finished".</summary>
    RestoreFinished,

    /// <summary>Every task is complete (the push is over), or the restore ended otherwise.</summary>
    AllComplete,

    /// <summary>The restore's actors are stopped (a one-shot daemon's actor system is terminated).</summary>
    TornDown,

    /// <summary>Remote: the connection to the page server is being opened (name resolution, TCP, TLS).</summary>
    SourceConnectStarted,

    /// <summary>Remote: the first connection to the page server is up (TLS handshake included).</summary>
    SourceConnected,

    /// <summary>Remote: the connections' shape is known (a second one for faults checked with one GET, or one shared).</summary>
    SourceLinksReady,

    /// <summary>Remote: the fetcher has its connections and serves reads.</summary>
    FetcherServing,

    /// <summary>Remote: the first GET of a restore went on the wire.</summary>
    FirstRequestSent,

    /// <summary>Remote: the first reply of a restore arrived.</summary>
    FirstReplyReceived,
}
