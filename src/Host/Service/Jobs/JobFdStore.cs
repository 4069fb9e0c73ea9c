using System.Text.Json;
using LazyActors.Engine.CrashSafety;
using LazyActors.Engine.Interop;
using Microsoft.Extensions.Logging;

namespace LazyActors.Host.Service.Jobs;

/// <summary>
/// The crash safety of the service's jobs under systemd. While a job runs, its spec (<c>ID.json</c>) and its crash
/// journal (<c>ID.journal</c>, written by its <see cref="FdStoreKeeper"/>) are in the state directory's <c>jobs/</c>, and
/// its listening socket, restorer connection and uffds are in systemd's file-descriptor store as <c>ID-N</c>. When the
/// service is started again after a crash, systemd hands those descriptors back (<c>LISTEN_FDS</c>, <c>LISTEN_FDNAMES</c>)
/// and <see cref="Recover"/> pairs them with the journals: each job comes back with the <see cref="ResumeState"/> its
/// restore goes on from, or with what is missing when it cannot. A job that ends writes <c>Done</c> (the keeper removes
/// its descriptors from the store and its journal) and its spec is deleted.
/// </summary>
public sealed class JobFdStore : IDisposable
{
    private readonly SystemdFdStore _store;
    private readonly ILogger _log;

    private JobFdStore(SystemdFdStore store, string directory, ILogger log)
    {
        _store = store;
        Directory = directory;
        _log = log;
    }

    /// <summary>Where the jobs' specs and journals are.</summary>
    public string Directory { get; }

    /// <summary>The store of a service under systemd (<c>NOTIFY_SOCKET</c> set, <see cref="ServiceOptions.FdStore"/> on),
    /// else null.</summary>
    /// <exception cref="LinuxException">The notify socket cannot be reached.</exception>
    public static JobFdStore? Open(ServiceOptions options, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.FdStore || SystemdFdStore.FromEnvironment() is not { } store)
        {
            return null;
        }

        return new JobFdStore(store, Path.Combine(options.ResolvedStateDirectory, "jobs"), log);
    }

    /// <summary>The journal file of job <paramref name="id"/>.</summary>
    public string JournalFile(string id) => Path.Combine(Directory, id + ".journal");

    /// <summary>The spec file of job <paramref name="id"/>.</summary>
    public string SpecFile(string id) => Path.Combine(Directory, id + ".json");

    /// <summary>
    /// Starts keeping job <paramref name="job"/> (its spec written first, so a journal is never without it); returns the
    /// journal the job writes and its keeper.
    /// </summary>
    /// <exception cref="IOException">The state directory cannot be written.</exception>
    internal (CrashJournal Journal, FdStoreKeeper Keeper) Keep(PersistedJob job)
    {
        System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        WriteSpec(job);
        return FdStoreKeeper.Start(_store, job.Id, JournalFile(job.Id), m => _log.LogWarning("{Warning}", m));
    }

    /// <summary>
    /// Goes on keeping a job <see cref="Recover"/> found: its journal file continues, the names systemd handed back are
    /// removed as the job no longer needs them.
    /// </summary>
    internal (CrashJournal Journal, FdStoreKeeper Keeper) Resume(RecoveredJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        WriteSpec(job.Spec);
        return FdStoreKeeper.Resume(_store, job.Spec.Id, JournalFile(job.Spec.Id), job.Records, job.InStore, job.State.LastId,
            m => _log.LogWarning("{Warning}", m));
    }

    /// <summary>The job ended with <paramref name="exitCode"/>: everything of it leaves the store and the state directory.</summary>
    internal void End(string id, CrashJournal journal, FdStoreKeeper keeper, int exitCode)
    {
        journal.Done(exitCode);
        journal.Dispose();
        if (!keeper.WaitForEnd(TimeSpan.FromSeconds(5)))
        {
            _log.LogWarning("job {JobId}: its descriptors were not all removed from the fd store within 5 s", id);
        }

        keeper.Dispose();
        Delete(SpecFile(id));
    }

    /// <summary>
    /// A job that cannot go on: its names leave the store, its files the state directory (its descriptors here are the
    /// caller's to close).
    /// </summary>
    internal void Abandon(RecoveredJob job)
    {
        foreach (var name in job.InStore)
        {
            RemoveName(name);
        }

        Delete(JournalFile(job.Spec.Id));
        Delete(SpecFile(job.Spec.Id));
    }

    /// <summary>
    /// Takes the descriptors systemd passed (<c>LISTEN_FDS</c>) and pairs them with the jobs in the state directory: every
    /// job found, each with its resume state (descriptors attached to their records) and what is missing. Descriptors of
    /// no job are removed from the store and closed; a spec whose journal is gone (its job had ended) is deleted.
    /// </summary>
    internal IReadOnlyList<RecoveredJob> Recover()
    {
        var passed = new Dictionary<string, SafeFdHandle>(StringComparer.Ordinal);
        foreach (var (name, descriptor) in SystemdListenFds.Take())
        {
            if (!passed.TryAdd(name, descriptor))
            {
                descriptor.Dispose();
            }
        }

        var jobs = new List<RecoveredJob>();
        var specs = System.IO.Directory.Exists(Directory) ? System.IO.Directory.GetFiles(Directory, "*.json") : [];
        foreach (var specFile in specs.Order(StringComparer.Ordinal))
        {
            if (RecoverOne(specFile, passed) is { } job)
            {
                jobs.Add(job);
            }
        }

        foreach (var (name, descriptor) in passed)
        {
            _log.LogWarning("the fd store handed back {Name}, which no job's journal names: removed from the store and closed", name);
            descriptor.Dispose();
            RemoveName(name);
        }

        return jobs;
    }

    /// <inheritdoc />
    public void Dispose() => _store.Dispose();

    private RecoveredJob? RecoverOne(string specFile, Dictionary<string, SafeFdHandle> passed)
    {
        PersistedJob? spec;
        try
        {
            spec = JsonSerializer.Deserialize(File.ReadAllText(specFile), PersistedJobJson.Default.PersistedJob);
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            _log.LogError("{File}: not a job this service can resume ({Error}); left alone", specFile, ex.Message);
            return null;
        }

        if (spec is null || spec.Id != Path.GetFileNameWithoutExtension(specFile))
        {
            _log.LogError("{File}: not a job spec of this service; left alone", specFile);
            return null;
        }

        var journalFile = JournalFile(spec.Id);
        var prefix = spec.Id + "-";
        var inStore = passed.Keys.Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
        if (!File.Exists(journalFile) && inStore.Count == 0)
        {
            // The job had ended (its keeper deletes the journal first, then the service its spec).
            Delete(specFile);
            return null;
        }

        var state = new ResumeState();
        IReadOnlyList<JournalFileRecord> records = [];
        string? unreadable = null;
        try
        {
            records = File.Exists(journalFile) ? FdStoreKeeper.ReadJournalFile(journalFile) : [];
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            unreadable = $"its journal {journalFile} cannot be read: {ex.Message}";
        }

        for (var i = 0; i < records.Count; i++)
        {
            var name = FdStoreKeeper.NameOf(spec.Id, i);
            SafeFdHandle? descriptor = null;
            if (records[i].Stored && passed.Remove(name, out var back))
            {
                descriptor = back;
            }

            state.Add(records[i].Record, descriptor);
        }

        var restarts = spec.Restarts + 1;
        state.Add(new JournalRecord(JournalRecordKind.ResumeEnd, Number: restarts), null);
        foreach (var name in inStore.Where(passed.ContainsKey).ToList())
        {
            // Names of this job no record claims (a record cut short by the crash): not needed, not kept.
            passed.Remove(name, out var stray);
            stray?.Dispose();
            RemoveName(name);
            inStore.Remove(name);
        }

        var missing = unreadable is not null ? [unreadable] : state.Missing();
        _log.LogWarning("job {JobId}: found after a restart of the service ({Records} journal records, {Descriptors} descriptors back from the fd store){Missing}",
            spec.Id, records.Count, inStore.Count, missing.Count == 0 ? string.Empty : $"; missing: {string.Join(", ", missing)}");
        return new RecoveredJob(spec with { Restarts = restarts }, state, records, inStore, missing);
    }

    private void WriteSpec(PersistedJob job)
    {
        var file = SpecFile(job.Id);
        var temporary = file + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(job, PersistedJobJson.Default.PersistedJob));
        File.Move(temporary, file, overwrite: true);
    }

    private void RemoveName(string name)
    {
        try
        {
            _store.Remove(name);
        }
        catch (LinuxException ex)
        {
            _log.LogWarning("cannot remove {Name} from the fd store: {Error}", name, ex.Message);
        }
    }

    private void Delete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("cannot delete {File}: {Error}", file, ex.Message);
        }
    }
}
