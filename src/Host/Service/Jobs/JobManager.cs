using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Actors.Remote;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.CrashSafety;
using LazyActors.Engine.Hosting;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Tls;
using LazyActors.Engine.Restorer;
using LazyActors.Host.Service.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LazyActors.Host.Service.Jobs;

/// <summary>
/// The service's restore jobs: starts them (checked first, so a bad request is refused with the reason before anything
/// listens), keeps them for the control API and the status page, and drains them when the service stops (SIGTERM):
/// no new job, jobs still waiting for their restorer are cancelled at once, restores in progress get
/// <see cref="ServiceOptions.DrainTimeout"/> to finish, then whatever is left is cancelled. Jobs never share mutable
/// state: one failing leaves the others alone.
/// </summary>
public sealed class JobManager : IHostedLifecycleService, IDisposable
{
    private static readonly TimeSpan CancelledJobsBound = TimeSpan.FromSeconds(20);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly LinkedList<Job> _finished = new();
    private readonly HashSet<string> _starting = new(StringComparer.Ordinal);
    private readonly ServiceOptions _options;
    private readonly Config _engineHocon;
    private readonly Func<RestoreJobHost> _host;
    private readonly ServiceMeters _meters;
    private readonly ILogger<JobManager> _log;
    private readonly CancellationTokenSource _stopObserving = new();
    private readonly JobFdStore? _fdStore;
    private Task _observing = Task.CompletedTask;
    private bool _draining;

    /// <summary>Jobs of the service (<paramref name="host"/> resolves the actor system's job host once it runs).</summary>
    public JobManager(ServiceOptions options, EngineHocon engineHocon, Func<RestoreJobHost> host, ServiceMeters meters, ILogger<JobManager> log)
    {
        ArgumentNullException.ThrowIfNull(engineHocon);
        _options = options;
        _engineHocon = engineHocon.Config;
        _host = host;
        _meters = meters;
        _log = log;
        _meters.ObserveJobs(List);
        try
        {
            _fdStore = JobFdStore.Open(options, log);
        }
        catch (LinuxException ex)
        {
            _log.LogWarning("systemd's notify socket cannot be reached ({Error}): jobs are not kept in its fd store, a crash of the service loses them", ex.Message);
        }
    }

    /// <summary>True once the service began to stop.</summary>
    public bool Draining
    {
        get
        {
            lock (_gate)
            {
                return _draining;
            }
        }
    }

    /// <summary>Running jobs.</summary>
    public int RunningCount
    {
        get
        {
            lock (_gate)
            {
                return _jobs.Values.Count(j => !j.IsFinished);
            }
        }
    }

    /// <summary>Every job known: running ones, then the finished ones kept, newest first.</summary>
    public IReadOnlyList<Job> List()
    {
        lock (_gate)
        {
            return [.. _jobs.Values.Where(j => !j.IsFinished).OrderBy(j => j.Created), .. _finished];
        }
    }

    /// <summary>The job <paramref name="id"/>.</summary>
    /// <exception cref="JobRequestException">No such job.</exception>
    public Job Get(string id)
    {
        lock (_gate)
        {
            if (!string.IsNullOrEmpty(id) && _jobs.TryGetValue(id, out var job))
            {
                return job;
            }
        }

        throw new JobRequestException(JobRequestError.NotFound, $"no job {id} (jobs list shows the jobs this service knows)");
    }

    /// <summary>
    /// Checks <paramref name="spec"/>, opens the checkpoint and listens on the work directory's socket; the returned job
    /// serves the next restore there in the background.
    /// </summary>
    /// <exception cref="JobRequestException">The request is refused; the message says why.</exception>
    public async Task<Job> StartJobAsync(JobSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (string.IsNullOrWhiteSpace(spec.ImagesDirectory))
        {
            throw new JobRequestException(JobRequestError.Invalid, "images_dir is required");
        }

        if (!Path.IsPathFullyQualified(spec.ImagesDirectory) || (spec.WorkDirectory is { Length: > 0 } w && !Path.IsPathFullyQualified(w)))
        {
            throw new JobRequestException(JobRequestError.Invalid, "images_dir and work_dir must be absolute paths (the service does not share the client's working directory)");
        }

        if (spec.PageServer is { } remote && (string.IsNullOrWhiteSpace(remote.Address) || (!remote.IsAkkaAddress && remote.Port is <= 0 or > 65535)))
        {
            throw new JobRequestException(JobRequestError.Invalid, $"page_server needs an address and a port between 1 and 65535, got '{remote.Address}:{remote.Port}'");
        }

        var images = Path.GetFullPath(spec.ImagesDirectory);
        var work = Path.GetFullPath(string.IsNullOrEmpty(spec.WorkDirectory) ? images : spec.WorkDirectory);
        if (!Directory.Exists(images))
        {
            throw new JobRequestException(JobRequestError.Invalid, $"images directory {images} does not exist");
        }

        if (!Directory.Exists(work))
        {
            throw new JobRequestException(JobRequestError.Invalid, $"work directory {work} does not exist");
        }

        var settings = Settings(spec, images, work);
        var id = NewId();
        lock (_gate)
        {
            if (_draining)
            {
                throw new JobRequestException(JobRequestError.Draining, "the service is stopping and takes no new job");
            }

            if (_jobs.Values.FirstOrDefault(j => !j.IsFinished && j.WorkDirectory == work) is { } other)
            {
                throw new JobRequestException(JobRequestError.AlreadyServed, $"work directory {work} is already served by job {other.Id} ({other.State})");
            }

            if (_starting.Contains(work))
            {
                throw new JobRequestException(JobRequestError.AlreadyServed, $"work directory {work} is already served by a job being started");
            }

            if (_jobs.Values.Count(j => !j.IsFinished) + _starting.Count >= _options.MaxJobs)
            {
                throw new JobRequestException(JobRequestError.TooMany, $"{_options.MaxJobs} jobs are running (LazyActors:Service:MaxJobs)");
            }

            // Reserved under the lock, so a second request for the same work directory is refused while this one opens.
            _starting.Add(work);
        }

        try
        {
            return await LaunchAsync(id, spec, settings).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _starting.Remove(work);
            }
        }
    }

    /// <summary>Cancels job <paramref name="id"/>.</summary>
    /// <exception cref="JobRequestException">No such job.</exception>
    public Job Cancel(string id)
    {
        var job = Get(id);
        job.Cancel("cancelled by a client");
        return job;
    }

    /// <inheritdoc />
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Takes back the jobs a crashed predecessor left in systemd's fd store, then starts looking at the running
    /// jobs every 100 ms, so their events carry the time they happened.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_fdStore is not null)
        {
            _log.LogInformation("jobs are kept in systemd's fd store; their journals in {Directory}", _fdStore.Directory);
            ResumeJobs(_fdStore);
        }

        _observing = ObserveAsync(_stopObserving.Token);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Drains, before any service stops (the control API and the status page stay up meanwhile).</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        List<Job> running;
        lock (_gate)
        {
            _draining = true;
            running = [.. _jobs.Values.Where(j => !j.IsFinished)];
        }

        if (running.Count == 0)
        {
            return;
        }

        foreach (var job in running.Where(j => j.State == JobState.Listening))
        {
            job.Cancel("the service is stopping: no restorer had connected");
        }

        _log.LogInformation("draining: waiting up to {DrainSeconds} s for {Jobs} job(s)", _options.DrainTimeout.TotalSeconds, running.Count);
        var all = Task.WhenAll(running.Select(j => j.Ended));
        try
        {
            await all.WaitAsync(_options.DrainTimeout, cancellationToken).ConfigureAwait(false);
            _log.LogInformation("drained: every job ended");
            return;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            _log.LogWarning("drain timeout: cancelling {Jobs} job(s) still serving", running.Count(j => !j.IsFinished));
        }

        foreach (var job in running)
        {
            job.Cancel($"the service is stopping: not finished within the drain timeout ({_options.DrainTimeout.TotalSeconds:0} s)");
        }

        try
        {
            await all.WaitAsync(CancelledJobsBound, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _log.LogError("{Jobs} job(s) did not stop within {Seconds} s of being cancelled", running.Count(j => !j.IsFinished), CancelledJobsBound.TotalSeconds);
        }
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopObserving.CancelAsync().ConfigureAwait(false);
        await _observing.ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var job in List())
        {
            job.Cancel("the service stopped");
        }

        _stopObserving.Dispose();
        _fdStore?.Dispose();
    }

    private async Task ObserveAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        try
        {
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
            {
                foreach (var job in List().Where(j => !j.IsFinished))
                {
                    job.Observe();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The page server as <c>lazy-pages --page-server --address --port [--tls ...]</c> finds it; TLS credentials
    /// loaded now, so a bad file refuses the request naming it.</summary>
    private static PageServerEndpoint RemoteEndpoint(PageServerSpec remote)
    {
        var tls = remote.Tls
            ? PageServerTlsCredentials.Load(new PageServerTlsSettings { CaCertificatePath = remote.CaFile, CertificatePath = remote.CertFile, PrivateKeyPath = remote.KeyFile })
            : null;
        return PageServerEndpoint.Tcp(remote.Address, remote.Port, tls);
    }

    private static RestoreSource AcquireRemote(RestoreJobHost host, EngineSettings settings, PageServerSpec remote)
    {
        var endpoint = RemoteEndpoint(remote);
        var identity = CheckpointIdentity.OfRemote(remote.Address, remote.Port, settings.ImagesDirectory);
        return host.Checkpoints.AcquireRemote(settings, identity, endpoint,
            checkpoint => new SharedRemoteSource(host.System, settings, endpoint, ProbePage.Of(checkpoint)));
    }

    private EngineSettings Settings(JobSpec spec, string images, string work)
    {
        try
        {
            var overrides = ServiceConfiguration.EngineOverrides(spec.Engine, "engine.");
            var settings = EngineSettings.Create(overrides.WithFallback(_engineHocon), images, work);
            settings = spec.PageServer is null ? settings : settings.ForRemoteSource();
            return spec.NoBackground ? settings with { BackgroundPush = false } : settings;
        }
        catch (ConfigurationException ex)
        {
            throw new JobRequestException(JobRequestError.Invalid, ex.Message);
        }
    }

    private async Task<Job> LaunchAsync(string id, JobSpec spec, EngineSettings settings)
    {
        var host = _host();
        RestoreSource source;
        AkkaJobSystem? akka = null;
        try
        {
            // Jobs of the same checkpoint share it: local images are mapped once; a remote checkpoint's pages come over one
            // session through the page cache, so the page server sends each page once for all of them. A job over the Akka
            // transport has an actor system of its own, with remoting, as lazy-pages --transport akka does.
            if (spec.PageServer is { Akka: true } akkaSource)
            {
                akka = await AkkaJobSystem.DescribeAsync(settings, akkaSource, _engineHocon, host.Checkpoints).ConfigureAwait(false);
                host = akka.Host;
                source = akka.Source;
            }
            else
            {
                source = spec.PageServer is { } remote
                    ? AcquireRemote(host, settings, remote)
                    : host.Checkpoints.AcquireLocal(settings);
            }

            try
            {
                // As lazy-pages: a checkpoint that could not be served is refused before its socket exists.
                source.Checkpoint.RequireLazyPagesServable();
            }
            catch
            {
                source.Dispose();
                akka?.Terminate();
                throw;
            }
        }
        catch (Exception ex) when (ex is ImageFormatException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new JobRequestException(JobRequestError.Invalid, spec.PageServer is null
                ? $"cannot open the images in {settings.ImagesDirectory}: {ex.Message}"
                : $"page server {spec.PageServer}: {ex.Message}");
        }

        RestoreJob restore;
        try
        {
            restore = RestoreJob.Listen(id, settings);
        }
        catch (Exception ex) when (ex is LinuxException or IOException or UnauthorizedAccessException)
        {
            source.Dispose();
            akka?.Terminate();
            throw new JobRequestException(JobRequestError.Invalid, $"cannot listen on {settings.SocketPath}: {ex.Message}");
        }

        var identity = akka is not null
            ? $"{akka.CheckpointLabel} of the page source {akka.SourcePath} (metadata and lazy pages over the Akka transport)"
            : spec.PageServer is { } server
            ? $"{settings.ImagesDirectory} (lazy pages from the page server {server})"
            : CheckpointIdentity.OfLocal(settings.ImagesDirectory).Display;
        var kept = Keep(id, spec, settings, restore);
        var job = new Job(id, spec, settings.WorkDirectory, restore.SocketPath, identity, restore.Statistics) { CacheCounters = source.Pages.CacheCounters };
        lock (_gate)
        {
            _jobs[id] = job;
        }

        _meters.JobStarted();
        _log.LogInformation("job {JobId}: listening on {Socket} for a restore of {Checkpoint}", id, restore.SocketPath, identity);
        _ = RunAsync(job, restore, host, source, kept, akka);
        return job;
    }

    /// <summary>Under systemd: the job's spec and journal go to the state directory, its descriptors to the fd store.</summary>
    private (CrashJournal Journal, FdStoreKeeper Keeper)? Keep(string id, JobSpec spec, EngineSettings settings, RestoreJob restore)
    {
        if (_fdStore is null)
        {
            return null;
        }

        try
        {
            var kept = _fdStore.Keep(new PersistedJob(id, settings.ImagesDirectory, settings.WorkDirectory, spec.PageServer, spec.NoBackground,
                new Dictionary<string, string>(spec.Engine, StringComparer.Ordinal), Restarts: 0));
            restore.Protect(kept.Journal);
            return kept;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or LinuxException)
        {
            _log.LogWarning("job {JobId}: not kept in systemd's fd store ({Error}): a crash of the service would lose it", id, ex.Message);
            return null;
        }
    }

    /// <summary>
    /// The jobs a crashed predecessor left: each one whose descriptors all came back goes on where it was, under its own
    /// id; one that lacks any has its restored tree stopped (never left running on memory that would read zeros) and is
    /// listed as failed with the reason.
    /// </summary>
    private void ResumeJobs(JobFdStore store)
    {
        IReadOnlyList<RecoveredJob> recovered;
        try
        {
            recovered = store.Recover();
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            _log.LogError("the jobs of the previous run cannot be taken back: {Error}", ex.Message);
            return;
        }

        foreach (var found in recovered)
        {
            var spec = found.Spec.ToSpec();
            EngineSettings? settings = null;
            string? problem = found.Missing.Count > 0
                ? $"the service restarted and cannot resume job {found.Spec.Id}: systemd's fd store did not hand back {string.Join(", ", found.Missing)}"
                : null;
            try
            {
                settings = Settings(spec, found.Spec.ImagesDirectory, found.Spec.WorkDirectory);
            }
            catch (JobRequestException ex)
            {
                problem ??= $"the service restarted and cannot resume job {found.Spec.Id}: {ex.Message}";
            }

            if (problem is null && settings is not null && TryResume(store, found, spec, settings) is { } failure)
            {
                problem = failure;
            }

            if (problem is not null)
            {
                FailRecovered(store, found, spec, settings, problem);
            }
        }
    }

    /// <summary>Runs a recovered job; returns why it could not be, or null.</summary>
    private string? TryResume(JobFdStore store, RecoveredJob found, JobSpec spec, EngineSettings settings)
    {
        var id = found.Spec.Id;
        if (spec.PageServer is { Akka: true } or { IsAkkaAddress: true })
        {
            // Its metadata came over the wire into a per-job actor system that died with the service; resuming it needs
            // that system described again before the uffds are served, which is not built: the tree is stopped instead.
            return $"the service restarted and cannot resume job {id}: resuming a job over the Akka transport is not supported";
        }

        var host = _host();
        RestoreSource source;
        try
        {
            source = spec.PageServer is { } remote ? AcquireRemote(host, settings, remote) : host.Checkpoints.AcquireLocal(settings);
        }
        catch (Exception ex) when (ex is ImageFormatException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return $"the service restarted and cannot resume job {id}: its checkpoint cannot be opened: {ex.Message}";
        }

        (CrashJournal Journal, FdStoreKeeper Keeper) kept;
        try
        {
            kept = store.Resume(found);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or LinuxException)
        {
            source.Dispose();
            return $"the service restarted and cannot resume job {id}: its journal cannot be continued: {ex.Message}";
        }

        var restore = RestoreJob.Resume(id, settings, found.State, kept.Journal);
        var identity = spec.PageServer is { } server
            ? $"{settings.ImagesDirectory} (lazy pages from the page server {server})"
            : CheckpointIdentity.OfLocal(settings.ImagesDirectory).Display;
        var job = new Job(id, spec, settings.WorkDirectory, restore.SocketPath, identity, restore.Statistics);
        job.Note("resumed", $"taken back after a restart of the service (restart {found.Spec.Restarts}): {found.InStore.Count} descriptor(s) from systemd's fd store, {found.Records.Count} journal record(s)");
        lock (_gate)
        {
            _jobs[id] = job;
        }

        _meters.JobStarted();
        _log.LogWarning("job {JobId}: resumed after a restart of the service (restart {Restarts}, {Descriptors} descriptor(s) back from the fd store)", id, found.Spec.Restarts, found.InStore.Count);
        _ = RunAsync(job, restore, host, source, kept, akka: null);
        return null;
    }

    /// <summary>A recovered job that cannot go on: its tree is stopped, its store entries and files removed, and it is
    /// listed as failed with <paramref name="problem"/>.</summary>
    private void FailRecovered(JobFdStore store, RecoveredJob found, JobSpec spec, EngineSettings? settings, string problem)
    {
        var state = found.State;
        string stopped;
        if (RestoredTree.Attach(state.RestorerPid, state.ListeningSince > 0 ? state.ListeningSince : null) is { } tree)
        {
            foreach (var task in state.Ordered.Where(r => r.Kind == JournalRecordKind.Task))
            {
                tree.Resolve(task.Number);
            }

            var signal = (int)(settings?.CrashSafety.StopSignal ?? TreeStopSignal.Kill);
            stopped = tree.Stop(signal, TimeSpan.FromSeconds(5)).ToString();
        }
        else
        {
            stopped = state.RestorerPid > 0
                ? $"the restorer (pid {state.RestorerPid}) is gone or not visible from here: nothing to stop"
                : "no restorer had connected: nothing to stop";
        }

        state.Dispose();
        store.Abandon(found);
        var work = found.Spec.WorkDirectory;
        var job = new Job(found.Spec.Id, spec, work, Path.Combine(work, LazyPagesHandshake.SocketName), found.Spec.ImagesDirectory, new LazyActors.Engine.Actors.EngineStatistics());
        lock (_gate)
        {
            _jobs[job.Id] = job;
        }

        _meters.JobStarted();
        var error = $"{problem}; {stopped}";
        _log.LogError("job {JobId}: {Error}", job.Id, error);
        job.Finish(new EngineResult(1, error, job.Statistics, TimeSpan.Zero));
        _meters.JobEnded(job.State);
        RemoveSocketFile(job.SocketPath);
        lock (_gate)
        {
            _finished.AddFirst(job);
        }
    }

    private async Task RunAsync(Job job, RestoreJob restore, RestoreJobHost host, RestoreSource source, (CrashJournal Journal, FdStoreKeeper Keeper)? kept, AkkaJobSystem? akka)
    {
        EngineResult result;
        using (restore)
        {
            try
            {
                result = await restore.RunAsync(host, source, job.CancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // A bug in this job only: it fails, the others go on.
                _log.LogError(ex, "job {JobId} failed unexpectedly", job.Id);
                result = new EngineResult(1, $"internal error: {ex.Message}", restore.Statistics, job.Elapsed);
            }
        }

        if (akka is not null)
        {
            await akka.TerminateAsync().ConfigureAwait(false);
        }

        if (kept is { } k)
        {
            _fdStore!.End(job.Id, k.Journal, k.Keeper, result.ExitCode);
        }

        // The work directory is the job's until it is marked finished, so the file is still the one it bound: remove it,
        // so nothing mistakes a served (or cancelled) job's socket for one that listens.
        RemoveSocketFile(job.SocketPath);
        job.Finish(result);
        _meters.JobEnded(job.State);
        if (result.Succeeded)
        {
            _log.LogInformation("job {JobId}: every task is complete ({Tasks} task(s), {Pages} pages copied, {Faults} faults) in {Seconds:0.000} s",
                job.Id, result.Statistics.Tasks.Count, result.Statistics.Tasks.Sum(t => t.CopiedPages), result.Statistics.Faults, result.Elapsed.TotalSeconds);
        }
        else
        {
            _log.LogWarning("job {JobId}: ended with exit code {ExitCode}: {Error}", job.Id, result.ExitCode, result.Error);
        }

        lock (_gate)
        {
            _finished.AddFirst(job);
            while (_finished.Count > _options.FinishedJobsKept)
            {
                _jobs.Remove(_finished.Last!.Value.Id);
                _finished.RemoveLast();
            }
        }
    }

    private void RemoveSocketFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("cannot remove {Socket}: {Error}", path, ex.Message);
        }
    }

    private static string NewId() => "j" + Guid.NewGuid().ToString("N")[..11];
}
