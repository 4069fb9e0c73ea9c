using System.Diagnostics;
using Akka.Actor;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;

namespace LazyActors.Engine.Hosting;

/// <summary>
/// One restore served inside a long-lived actor system (the hosted service): the same two steps as the one-shot
/// <see cref="LazyPagesEngine"/>, whose behaviour it shares. <see cref="Listen"/> binds <c>WORKDIR/lazy-pages.socket</c>
/// at once; <see cref="RunAsync"/> serves the next <c>criu restore --lazy-pages</c> that connects there, with its
/// supervisor as a child of the host's <see cref="RestoreJobsActor"/>, and returns how it ended. A failing job ends
/// alone: its actors, uffd reader thread and buffers are its own.
/// </summary>
public sealed class RestoreJob : IDisposable
{
    private SafeFdHandle? _listener;
    private int _running;
    private CrashSafety.CrashJournal? _journal;
    private CrashSafety.ResumeState? _resume;

    private readonly ulong _listeningSince = ProcFs.NowTicks();

    private RestoreJob(string name, EngineSettings settings, SafeFdHandle listener)
    {
        Name = name;
        Settings = settings;
        _listener = listener;
    }

    /// <summary>The job's actor name (its supervisor is <c>/user/jobs/NAME</c>, so its log lines carry it).</summary>
    public string Name { get; }

    /// <summary>The settings in use.</summary>
    public EngineSettings Settings { get; }

    /// <summary>The absolute path of the listening socket.</summary>
    public string SocketPath => Settings.SocketPath;

    /// <summary>Live counters (valid during and after the run).</summary>
    public EngineStatistics Statistics { get; } = new();

    /// <summary>Binds and listens on <c>lazy-pages.socket</c> in the work directory (a stale socket file is replaced).</summary>
    /// <param name="name">The job's actor name: letters, digits and <c>-</c>; unique among the host's live jobs.</param>
    /// <param name="settings">Paths and tuning of this restore.</param>
    /// <exception cref="DirectoryNotFoundException">The work directory does not exist.</exception>
    /// <exception cref="LinuxException">The socket cannot be created (path, permissions).</exception>
    public static RestoreJob Listen(string name, EngineSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (!Directory.Exists(settings.WorkDirectory))
        {
            throw new DirectoryNotFoundException($"work directory {settings.WorkDirectory} does not exist");
        }

        return new RestoreJob(CheckName(name), settings, UnixSocket.Listen(settings.SocketPath));
    }

    /// <summary>
    /// A job over a socket that already listens (handed over by a supervisor of the process, such as systemd's file
    /// descriptor store, across a restart); ownership of <paramref name="listener"/> passes to the job.
    /// </summary>
    public static RestoreJob Adopt(string name, EngineSettings settings, SafeFdHandle listener)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(listener);
        settings.Validate();
        return new RestoreJob(CheckName(name), settings, listener);
    }

    /// <summary>
    /// A job that goes on with the restore a dead process of the service began (crash safety: systemd's file-descriptor
    /// store handed its descriptors back, its journal file says what each is): the socket or the restorer's connection
    /// and every uffd come from <paramref name="resume"/> (owned by the job from now on), new records go to
    /// <paramref name="journal"/>. Nothing is bound.
    /// </summary>
    public static RestoreJob Resume(string name, EngineSettings settings, CrashSafety.ResumeState resume, CrashSafety.CrashJournal journal)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(resume);
        ArgumentNullException.ThrowIfNull(journal);
        settings.Validate();
        return new RestoreJob(CheckName(name), settings, new SafeFdHandle(-1, ownsHandle: false)) { _journal = journal, _resume = resume };
    }

    /// <summary>
    /// Journals this job (crash safety: to systemd's file-descriptor store, <see cref="CrashSafety.FdStoreKeeper"/>): the
    /// listening socket goes first. Call before <see cref="RunAsync"/>; the caller writes <see cref="CrashSafety.CrashJournal.Done"/>
    /// when the run returned.
    /// </summary>
    public void Protect(CrashSafety.CrashJournal journal)
    {
        ArgumentNullException.ThrowIfNull(journal);
        var listener = _listener ?? throw new ObjectDisposedException(nameof(RestoreJob));
        journal.Listener(listener);
        _journal = journal;
    }

    /// <summary>
    /// Serves one restore to the end, reading <paramref name="source"/> (whose ownership passes to the job: it is disposed
    /// once every actor of the restore stopped). Cancelling stops it (exit code 130).
    /// </summary>
    public async Task<EngineResult> RunAsync(RestoreJobHost host, RestoreSource source, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(source);
        if (Interlocked.Exchange(ref _running, 1) != 0)
        {
            source.Dispose();
            throw new InvalidOperationException("a RestoreJob serves exactly one restore");
        }

        var clock = Stopwatch.StartNew();
        var listener = Interlocked.Exchange(ref _listener, null);
        if (listener is null)
        {
            source.Dispose();
            throw new ObjectDisposedException(nameof(RestoreJob));
        }

        var warmUp = host.ClaimWarmUp();
        var placement = new RestoreRun.Placement(
            // Not cancellable: a Start already delivered creates the supervisor whatever the asker does, and only a
            // supervisor the run knows of is stopped before the listener is closed (cancellation applies right after).
            async props => (await host.Jobs.Ask<RestoreJobsActor.Started>(new RestoreJobsActor.Start(Name, props), TimeSpan.FromSeconds(10))
                .ConfigureAwait(false)).Supervisor,
            warmUp ? hub => LazyPagesEngine.WarmUpAsync(host.System, Settings, hub, TimeSpan.FromSeconds(5)) : null,
            async supervisor =>
            {
                if (supervisor is null)
                {
                    return true;
                }

                try
                {
                    return await supervisor.GracefulStop(host.StopTimeout).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is TaskCanceledException or AskTimeoutException)
                {
                    return false;
                }
            });
        return await RestoreRun.ServeAsync(Settings, listener, Statistics, () => source, null, placement, clock, _listeningSince, cancellationToken, _journal, _resume).ConfigureAwait(false);
    }

    /// <summary>Closes the socket if <see cref="RunAsync"/> never ran, and what a resumed job's run did not take over
    /// (call once the run returned).</summary>
    public void Dispose()
    {
        Interlocked.Exchange(ref _listener, null)?.Dispose();
        Interlocked.Exchange(ref _resume, null)?.Dispose();
    }

    private static string CheckName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
        {
            throw new ArgumentException($"job name {name} must be ASCII letters, digits and '-'", nameof(name));
        }

        return name;
    }
}
