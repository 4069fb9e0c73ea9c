using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Actors.WarmUp;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.CrashSafety;
using LazyActors.Engine.Diagnostics;
using LazyActors.Engine.Hosting;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Restorer;
using LazyActors.Engine.Scheduling;

namespace LazyActors.Engine;

/// <summary>
/// A drop-in <c>criu lazy-pages</c> daemon, without any CLI knowledge, for local images or, with a page server
/// (<c>--page-server</c>), for a remote source. Use in two steps so readiness can be signalled as early as CRIU does:
/// <see cref="Listen(EngineSettings, PageServerEndpoint?)"/> opens and checks the checkpoint, then binds
/// <c>WORKDIR/lazy-pages.socket</c> (0600; a stale file replaced, a live daemon's socket never taken over);
/// <see cref="RunAsync(CancellationToken)"/> then builds the actor system (or takes the one
/// <see cref="Listen(EngineSettings, PageServerEndpoint?, Config)"/> built meanwhile), connects to the page server,
/// accepts the restorer and serves every task until all are complete.
/// </summary>
public sealed class LazyPagesEngine : IDisposable
{
    /// <summary>The engine's actor system name (a cluster node's is <see cref="Remoting.Cluster.ClusterTransport.SystemName"/>).</summary>
    public const string SystemName = "lazy-actors";

    private readonly EngineSettings _settings;
    private readonly PageServerEndpoint? _pageServer;
    private readonly ulong _listeningSince;
    private Akka.Actor.ActorPath? _akkaSource;
    private Func<Actors.Remote.RemotePageSource, Actors.Remote.RemoteStatistics, Props>? _akkaFetcher;
    private SafeFdHandle? _listener;
    private Checkpoint? _checkpoint;
    private Task<ActorSystem>? _earlySystem;
    private Task? _earlyWarmUp;
    private Task<Actors.Remote.SourceLinks>? _earlyLinks;
    private int _running;
    private CrashJournal? _journal;
    private ResumeState? _resume;

    private LazyPagesEngine(EngineSettings settings, Checkpoint checkpoint, SafeFdHandle listener, PageServerEndpoint? pageServer, ulong listeningSince, Task<ActorSystem>? earlySystem, Task? earlyWarmUp = null)
    {
        _settings = settings;
        _checkpoint = checkpoint;
        _listener = listener;
        _pageServer = pageServer;
        _listeningSince = listeningSince;
        _earlySystem = earlySystem;
        _earlyWarmUp = earlyWarmUp;
    }

    /// <summary>The page server the pages come from, or null for local images.</summary>
    public PageServerEndpoint? PageServer => _pageServer;

    /// <summary>The absolute path of the listening socket.</summary>
    public string SocketPath => _settings.SocketPath;

    /// <summary>Live counters (valid during and after the run).</summary>
    public EngineStatistics Statistics { get; } = new();

    /// <summary>The settings in use.</summary>
    public EngineSettings Settings => _settings;

    /// <summary>
    /// Completes once the start-up work <see cref="Listen(EngineSettings, PageServerEndpoint?, Config)"/> began (the
    /// actor system, the stand-ins' warm-up) is done, or at once when there is none; never faults. A daemon that signals
    /// readiness only then (<c>scheduling.ready-after-start-up</c>) keeps that work from running beside the restorer.
    /// </summary>
    public Task StartUpDone => Volatile.Read(ref _earlyWarmUp) ?? Task.CompletedTask;

    /// <summary>
    /// Opens and checks the checkpoint (before anything is bound, as CRIU reads pstree first, so a restorer never meets
    /// a daemon that cannot serve it), then binds and listens on <c>lazy-pages.socket</c> in the work directory. With
    /// <paramref name="pageServer"/> the lazy pages are fetched from that page server (<c>criu lazy-pages
    /// --page-server</c>); the images in the images directory then need no page data (those of <c>criu dump
    /// --lazy-pages</c> do).
    /// </summary>
    /// <exception cref="ImageFormatException">The images cannot be served; the message names the file and the problem.</exception>
    /// <exception cref="IOException">Another process listens on the socket, or the work directory does not exist.</exception>
    /// <exception cref="LinuxException">The socket cannot be created (path, permissions).</exception>
    public static LazyPagesEngine Listen(EngineSettings settings, PageServerEndpoint? pageServer = null) =>
        ListenCore(settings, pageServer, startSystemWith: null);

    /// <summary>
    /// <see cref="Listen(EngineSettings, PageServerEndpoint?)"/>, building the actor system (with
    /// <paramref name="akkaConfig"/>: loggers, overrides) on another thread meanwhile: it is the longest step before a
    /// fault can be served, and a restorer that connects soon after the socket listens faults soon after too.
    /// <see cref="RunAsync(CancellationToken)"/> then serves with that system.
    /// </summary>
    public static LazyPagesEngine Listen(EngineSettings settings, PageServerEndpoint? pageServer, Config akkaConfig)
    {
        ArgumentNullException.ThrowIfNull(akkaConfig);
        return ListenCore(settings, pageServer, startSystemWith: akkaConfig);
    }

    private static LazyPagesEngine ListenCore(EngineSettings settings, PageServerEndpoint? pageServer, Config? startSystemWith)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (!Directory.Exists(settings.WorkDirectory))
        {
            throw new DirectoryNotFoundException($"work directory {settings.WorkDirectory} does not exist");
        }

        var served = pageServer is null ? settings : settings.ForRemoteSource();
        if (startSystemWith is not null && served.StartUpBelowRestorer && served.OwnsProcess)
        {
            // The work below runs beside `criu restore` once readiness is signalled: below it until "restore finished".
            StartUpPriority.Begin();
        }

        var earlySystem = startSystemWith is null ? null : Task.Run(() =>
        {
            StartUpPriority.LowerCallingThread();
            return CreateSystem(served, startSystemWith);
        });
        // The stand-ins run as soon as the system is up, before the restorer connects: the engine's threads are started
        // and the actors' code and compiled message matchers are ready, instead of being built beside the restorer's
        // first faults (only the native path, which needs the uffd hub, is left for RunAsync).
        var earlyWarmUp = earlySystem is null ? null : WarmUpStandInsAsync(earlySystem, served);
        // Remote: the page server is connected meanwhile too (TCP, TLS, the second connection), so the fetcher has its
        // connections when the first fault comes; only the probe GET waits for the checkpoint (it names a lazy page).
        var probe = new TaskCompletionSource<Actors.Remote.ProbePage?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var earlyLinks = pageServer is null ? null
            : Task.Run(() => Actors.Remote.SourceConnector.ConnectAsync(pageServer, served.Remote, served.EngineThreadsNice, probe.Task, served.Remote.FaultConnection, CancellationToken.None));
        Checkpoint? checkpoint = null;
        try
        {
            checkpoint = Checkpoint.Open(settings.ImagesDirectory);
            checkpoint.RequireLazyPagesServable();
            StartupTrace.Mark(StartupStep.CheckpointOpened);
            probe.TrySetResult(pageServer is null ? null : Actors.Remote.ProbePage.Of(checkpoint));
            var since = ProcFs.NowTicks();
            var listener = UnixSocket.Listen(settings.SocketPath);
            StartupTrace.Mark(StartupStep.Listening);
            return new LazyPagesEngine(served, checkpoint, listener, pageServer, since, earlySystem, earlyWarmUp) { _earlyLinks = earlyLinks };
        }
        catch
        {
            probe.TrySetResult(null);
            if (earlyLinks is not null)
            {
                _ = Actors.Remote.SourceConnector.DisposeAsync(earlyLinks);
            }

            checkpoint?.Dispose();
            TerminateEarly(earlySystem);
            throw;
        }
    }

    /// <summary>
    /// A successor's engine (crash safety): the restore a dead daemon began goes on from <paramref name="resume"/> (the
    /// guardian's journal and descriptors: the socket or the restorer's connection, every uffd), journalling to
    /// <paramref name="journal"/>. Nothing is bound: the socket is the one the guardian held.
    /// </summary>
    /// <exception cref="ImageFormatException">The images cannot be served.</exception>
    public static LazyPagesEngine Resume(EngineSettings settings, PageServerEndpoint? pageServer, ResumeState resume, CrashJournal journal)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(resume);
        ArgumentNullException.ThrowIfNull(journal);
        settings.Validate();
        var checkpoint = Checkpoint.Open(settings.ImagesDirectory);
        try
        {
            checkpoint.RequireLazyPagesServable();
            var since = resume.ListeningSince > 0 ? resume.ListeningSince : ProcFs.NowTicks();
            return new LazyPagesEngine(pageServer is null ? settings : settings.ForRemoteSource(), checkpoint, new SafeFdHandle(-1, ownsHandle: false), pageServer, since, earlySystem: null)
            {
                _journal = journal,
                _resume = resume,
            };
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A successor's engine over the Akka transport (crash safety): as <see cref="Resume"/>, on the checkpoint the source at
    /// <paramref name="sourcePath"/> described again to this process (<paramref name="described"/>), whose pages come from
    /// that source over <paramref name="system"/> (owned by the engine from this call on, also when it throws), through
    /// <paramref name="fetcher"/>'s actor when given (a cluster restore's), else an <see cref="Actors.Remote.AkkaFetchActor"/>.
    /// Run it with no Akka configuration of its own.
    /// </summary>
    /// <exception cref="ImageFormatException">The description cannot be served.</exception>
    public static LazyPagesEngine ResumeDescribed(EngineSettings settings, Checkpoint described, Akka.Actor.ActorPath sourcePath, ActorSystem system,
        Func<Actors.Remote.RemotePageSource, Actors.Remote.RemoteStatistics, Props>? fetcher, ResumeState resume, CrashJournal journal)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(described);
        ArgumentNullException.ThrowIfNull(sourcePath);
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(resume);
        ArgumentNullException.ThrowIfNull(journal);
        var earlySystem = Task.FromResult(system);
        try
        {
            settings.Validate();
            described.RequireLazyPagesServable();
            var since = resume.ListeningSince > 0 ? resume.ListeningSince : ProcFs.NowTicks();
            return new LazyPagesEngine(settings.ForRemoteSource(), described, new SafeFdHandle(-1, ownsHandle: false), null, since, earlySystem)
            {
                _akkaSource = sourcePath,
                _akkaFetcher = fetcher,
                _journal = journal,
                _resume = resume,
            };
        }
        catch
        {
            described.Dispose();
            TerminateEarly(earlySystem);
            throw;
        }
    }

    /// <summary>
    /// As <see cref="Listen(EngineSettings, PageServerEndpoint?)"/> for the Akka transport: <paramref name="described"/> is the checkpoint's model as the
    /// source at <paramref name="sourcePath"/> described it (no image file here), checked the same way before binding;
    /// the lazy pages come from that source. Run it with the transport's remoting configuration
    /// (<see cref="Remoting.AkkaTransport.SystemConfig"/>) as the Akka configuration.
    /// </summary>
    public static LazyPagesEngine ListenDescribed(EngineSettings settings, Checkpoint described, Akka.Actor.ActorPath sourcePath) =>
        ListenDescribedCore(settings, described, sourcePath, earlySystem: null);

    /// <summary>
    /// <see cref="ListenDescribed(EngineSettings, Checkpoint, Akka.Actor.ActorPath)"/> on the actor system that asked the source for
    /// <paramref name="described"/> (<see cref="CreateRemoteSystem"/>): its remoting association to the source is up
    /// already, and the daemon starts one actor system instead of two. The engine owns <paramref name="system"/> from
    /// this call on, also when it throws; run it with no Akka configuration of its own.
    /// </summary>
    public static LazyPagesEngine ListenDescribed(EngineSettings settings, Checkpoint described, Akka.Actor.ActorPath sourcePath, ActorSystem system)
    {
        ArgumentNullException.ThrowIfNull(system);
        return ListenDescribedCore(settings, described, sourcePath, Task.FromResult(system));
    }

    /// <summary>
    /// <see cref="ListenDescribed(EngineSettings, Checkpoint, Akka.Actor.ActorPath, ActorSystem)"/> whose pages come through
    /// the fetcher <paramref name="fetcher"/> makes (a cluster restore's <see cref="Actors.Remote.ClusterFetchActor"/>) instead of an
    /// <see cref="Actors.Remote.AkkaFetchActor"/> of <paramref name="sourcePath"/>.
    /// </summary>
    public static LazyPagesEngine ListenDescribed(EngineSettings settings, Checkpoint described, Akka.Actor.ActorPath sourcePath, ActorSystem system,
        Func<Actors.Remote.RemotePageSource, Actors.Remote.RemoteStatistics, Props> fetcher)
    {
        ArgumentNullException.ThrowIfNull(fetcher);
        var engine = ListenDescribed(settings, described, sourcePath, system);
        engine._akkaFetcher = fetcher;
        return engine;
    }

    /// <summary>
    /// The engine's actor system of a restore over the Akka transport, built before the checkpoint is known, with
    /// <paramref name="akkaConfig"/> (the transport's remoting configuration, <see cref="Remoting.AkkaTransport.SystemConfig"/>):
    /// it asks the source for the checkpoint, then serves the restore
    /// (<see cref="ListenDescribed(EngineSettings, Checkpoint, Akka.Actor.ActorPath, ActorSystem)"/>).
    /// </summary>
    public static ActorSystem CreateRemoteSystem(EngineSettings settings, Config akkaConfig, string systemName = SystemName, Akka.Actor.Setup.Setup? setup = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(akkaConfig);
        ArgumentException.ThrowIfNullOrEmpty(systemName);
        return CreateSystem(settings.ForRemoteSource(), akkaConfig, systemName, setup);
    }

    private static LazyPagesEngine ListenDescribedCore(EngineSettings settings, Checkpoint described, Akka.Actor.ActorPath sourcePath, Task<ActorSystem>? earlySystem)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(described);
        ArgumentNullException.ThrowIfNull(sourcePath);
        try
        {
            settings.Validate();
            if (!Directory.Exists(settings.WorkDirectory))
            {
                throw new DirectoryNotFoundException($"work directory {settings.WorkDirectory} does not exist");
            }

            described.RequireLazyPagesServable();
            var since = ProcFs.NowTicks();
            return new LazyPagesEngine(settings.ForRemoteSource(), described, UnixSocket.Listen(settings.SocketPath), null, since, earlySystem) { _akkaSource = sourcePath };
        }
        catch
        {
            described.Dispose();
            TerminateEarly(earlySystem);
            throw;
        }
    }

    /// <summary>
    /// Journals this restore to a guardian (crash safety): the listening socket's duplicate goes first, so a restore
    /// can begin even while a dead daemon is being replaced. Call before <see cref="RunAsync(CancellationToken)"/>.
    /// </summary>
    public void Protect(CrashJournal journal)
    {
        ArgumentNullException.ThrowIfNull(journal);
        var listener = _listener ?? throw new ObjectDisposedException(nameof(LazyPagesEngine));
        journal.Listener(listener);
        _journal = journal;
    }

    /// <summary>The listening socket (crash safety hands a duplicate to the guardian); null once running.</summary>
    internal SafeFdHandle? ListenerHandle => _listener;

    private static ActorSystem CreateSystem(EngineSettings settings, Config? akkaConfig, string systemName = SystemName, Akka.Actor.Setup.Setup? setup = null)
    {
        EngineThreadPriority.Configure(settings.EngineThreadsNice ?? int.MinValue);
        var system = setup is null
            ? ActorSystem.Create(systemName, settings.ActorSystemConfig(akkaConfig))
            : ActorSystem.Create(systemName, BootstrapSetup.Create().WithConfig(settings.ActorSystemConfig(akkaConfig)).And(setup));
        StartupTrace.Mark(StartupStep.ActorSystemUp);
        return system;
    }

    /// <summary>Ends a system <see cref="Listen(EngineSettings, PageServerEndpoint?, Config)"/> started for a run that
    /// never came (bounded: the process may be about to exit anyway).</summary>
    private static void TerminateEarly(Task<ActorSystem>? earlySystem)
    {
        if (earlySystem is null)
        {
            return;
        }

        try
        {
            // Dispose and a failed Listen are synchronous; both waits are bounded.
#pragma warning disable VSTHRD002
            if (earlySystem.Wait(TimeSpan.FromSeconds(10)))
            {
                earlySystem.Result.Terminate().Wait(TimeSpan.FromSeconds(10));
            }
#pragma warning restore VSTHRD002
        }
        catch (AggregateException)
        {
            // Its creation failed: there is nothing to end.
        }
    }

    /// <summary>Serves one restore to the end. Cancelling stops it (exit code 130).</summary>
    public Task<EngineResult> RunAsync(CancellationToken cancellationToken = default) =>
        RunAsync(null, null, null, cancellationToken);

    /// <summary>
    /// Serves one restore with extra Akka configuration (loggers, overrides), and optionally a custom uffd hub and
    /// page source (tests; a remote restore uses its page server instead). With a system already built by
    /// <see cref="Listen(EngineSettings, PageServerEndpoint?, Config)"/>, <paramref name="akkaConfig"/> must be null.
    /// </summary>
    public async Task<EngineResult> RunAsync(Config? akkaConfig, Func<Action<Exception>, IUffdHub>? hubFactory,
        Func<Checkpoint, IPageSource>? sourceFactory, CancellationToken cancellationToken)
    {
        if (akkaConfig is not null && Volatile.Read(ref _earlySystem) is not null)
        {
            throw new ArgumentException("the actor system was built by Listen with its own configuration", nameof(akkaConfig));
        }

        if (Interlocked.Exchange(ref _running, 1) != 0)
        {
            throw new InvalidOperationException("a LazyPagesEngine serves exactly one restore");
        }

        var clock = Stopwatch.StartNew();
        var listener = Interlocked.Exchange(ref _listener, null)
            ?? throw new ObjectDisposedException(nameof(LazyPagesEngine));
        var early = Interlocked.Exchange(ref _earlySystem, null);
        var earlyWarmUp = Interlocked.Exchange(ref _earlyWarmUp, null);
        var system = early is null ? CreateSystem(_settings, akkaConfig) : await early.ConfigureAwait(false);
        using var noGcRegion = new NoGcRegionScope(_settings.NoGcBudgetBytes);
        // quick-exit: once the restore has its outcome the process only logs and exits; set by Completed below.
        var quickExit = _settings.OwnsProcess && _settings.QuickExit;
        var leaveToExit = false;
        var placement = new RestoreRun.Placement(
            props =>
            {
                // The region starts with a full collection: after the images are opened, before any task arrives.
                noGcRegion.Start();
                StartupTrace.Mark(StartupStep.NoGcRegionStarted);
                return Task.FromResult(system.ActorOf(props, "restore"));
            },
            hub => earlyWarmUp is null
                ? WarmUpAsync(system, _settings, hub, TimeSpan.FromSeconds(5))
                : NativeWarmUpAfterAsync(earlyWarmUp, system, _settings, hub),
            async supervisor =>
            {
                if (leaveToExit)
                {
                    // Nothing is stopped, unmapped or collected: the process exits next and the kernel releases it all
                    // (RestoreRun leaves the hub and the source alone when the actors are not reported stopped).
                    if (noGcRegion.KeepUntilExit())
                    {
                        StartupTrace.Note("quick exit: actors, actor system, no-GC region and mappings left to the process's exit");
                    }

                    return false;
                }

                if (supervisor is not null)
                {
                    try
                    {
                        await supervisor.GracefulStop(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is TaskCanceledException or AskTimeoutException)
                    {
                        // The system's termination below stops whatever is left.
                    }
                }

                try
                {
                    await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
                    return true;
                }
                catch (TimeoutException)
                {
                    return false;
                }
            })
        {
            Completed = () =>
            {
                leaveToExit = quickExit;
                if (_settings.OwnsProcess && _settings.AfterRestoreNice is { } afterNice)
                {
                    StartupTrace.Note($"after every task was complete {ProcessThreads.LowerAll(afterNice)} thread(s) went to nice {afterNice}");
                }
            },
        };
        var checkpoint = Interlocked.Exchange(ref _checkpoint, null)
            ?? throw new ObjectDisposedException(nameof(LazyPagesEngine));
        try
        {
            return await RestoreRun.ServeAsync(_settings, listener, Statistics, () => OpenSource(checkpoint, sourceFactory), hubFactory, placement, clock, _listeningSince, cancellationToken, _journal, _resume)
                .ConfigureAwait(false);
        }
        finally
        {
            // A run that ended before "restore finished" (no restorer, a failure) leaves nothing below normal.
            StartUpPriority.End("the end of the run");
            if (StartUpPriority.Describe() is { } lowered)
            {
                StartupTrace.Note(lowered);
            }
        }
    }

    /// <summary>The source of this restore over the checkpoint <see cref="Listen(EngineSettings, PageServerEndpoint?)"/> opened (owned by the source).</summary>
    private RestoreSource OpenSource(Checkpoint checkpoint, Func<Checkpoint, IPageSource>? sourceFactory)
    {
        if (_pageServer is not null)
        {
            return RestoreSource.OpenRemote(_settings, _pageServer, checkpoint, Interlocked.Exchange(ref _earlyLinks, null));
        }

        if (_akkaSource is not null)
        {
            return RestoreSource.OpenAkka(_settings, _akkaSource, checkpoint, _akkaFetcher);
        }

        if (sourceFactory is null)
        {
            return RestoreSource.OpenLocal(_settings, checkpoint);
        }

        try
        {
            return new RestoreSource(checkpoint, sourceFactory(checkpoint), checkpoint.Dispose);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>The stand-ins' warm-up on the system <see cref="Listen(EngineSettings, PageServerEndpoint?, Config)"/> is
    /// building, once it is up; bounded, never throws (a system that failed to start fails RunAsync instead).</summary>
    private static async Task WarmUpStandInsAsync(Task<ActorSystem> system, EngineSettings settings)
    {
        await ((Task)system).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!system.IsCompletedSuccessfully)
        {
            return;
        }

        var up = await system.ConfigureAwait(false);
        await WarmUpAsync(up, settings, null, TimeSpan.FromSeconds(5), standIns: true, "warm-up-early").ConfigureAwait(false);
        StartupTrace.Mark(StartupStep.EarlyWarmUpDone);
    }

    /// <summary>The native fault path's warm-up (it needs the run's uffd hub), after the stand-ins' early one.</summary>
    private static async Task NativeWarmUpAfterAsync(Task earlyWarmUp, ActorSystem system, EngineSettings settings, IUffdHub hub)
    {
        await earlyWarmUp.ConfigureAwait(false);
        await WarmUpAsync(system, settings, hub, TimeSpan.FromSeconds(5), standIns: false).ConfigureAwait(false);
    }

    /// <summary>Runs the fault and background paths once on stand-ins (JIT warm-up), and the native path with
    /// <paramref name="hub"/> (the engine's <see cref="EpollUffdHub"/>); bounded, never throws.</summary>
    internal static async Task WarmUpAsync(ActorSystem system, EngineSettings settings, IUffdHub? hub, TimeSpan timeout, bool standIns = true, string name = "warm-up")
    {
        var actor = system.ActorOf(EngineWarmUp.Props(settings, hub, standIns), name);
        try
        {
            await actor.Ask<EngineWarmUp.Done>(EngineWarmUp.Begin.Instance, timeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
        {
            system.Stop(actor);
        }
    }

    /// <summary>Closes the socket and the images, and ends the actor system Listen built, if
    /// <see cref="RunAsync(CancellationToken)"/> never ran.</summary>
    public void Dispose()
    {
        Interlocked.Exchange(ref _listener, null)?.Dispose();
        Interlocked.Exchange(ref _checkpoint, null)?.Dispose();
        Interlocked.Exchange(ref _resume, null)?.Dispose();
        TerminateEarly(Interlocked.Exchange(ref _earlySystem, null));
        if (Interlocked.Exchange(ref _earlyLinks, null) is { } unused)
        {
            _ = Actors.Remote.SourceConnector.DisposeAsync(unused);
        }
    }

    /// <summary>The no-GC region of a one-shot restore: started once the images are open, ended with the run.</summary>
    private sealed class NoGcRegionScope(long? budgetBytes) : IDisposable
    {
        private NoGcRegion? _region;

        private bool _keep;

        public void Start() => _region ??= NoGcRegion.TryStart(budgetBytes);

        /// <summary>The region is not ended: ending it makes the next allocation collect, just before the process exits.</summary>
        /// <returns>True the first time.</returns>
        public bool KeepUntilExit()
        {
            var first = !_keep;
            _keep = true;
            return first;
        }

        public void Dispose()
        {
            if (!_keep)
            {
                _region?.Dispose();
            }
        }
    }
}
