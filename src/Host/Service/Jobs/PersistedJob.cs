using System.Text.Json.Serialization;

namespace LazyActors.Host.Service.Jobs;

/// <summary>
/// A running job as the service keeps it in its state directory while systemd's file-descriptor store holds the job's
/// descriptors (<see cref="JobFdStore"/>): what a restarted service needs to serve the same restore again.
/// </summary>
/// <param name="Id">The job's id (also the prefix of its descriptors' names in the store).</param>
/// <param name="ImagesDirectory">The checkpoint (absolute).</param>
/// <param name="WorkDirectory">The work directory (absolute).</param>
/// <param name="PageServer">The remote source, or null.</param>
/// <param name="NoBackground">Serve faults only.</param>
/// <param name="Engine">The job's engine overrides.</param>
/// <param name="Restarts">How many times a restarted service took the job over.</param>
internal sealed record PersistedJob(
    string Id,
    string ImagesDirectory,
    string WorkDirectory,
    PageServerSpec? PageServer,
    bool NoBackground,
    Dictionary<string, string> Engine,
    int Restarts)
{
    /// <summary>The job spec it was started with.</summary>
    public JobSpec ToSpec() => new(ImagesDirectory, WorkDirectory, PageServer, NoBackground, Engine);
}

/// <summary>Source-generated JSON of <see cref="PersistedJob"/> (no reflection).</summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(PersistedJob))]
internal sealed partial class PersistedJobJson : JsonSerializerContext;
