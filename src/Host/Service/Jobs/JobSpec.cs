namespace LazyActors.Host.Service.Jobs;

/// <summary>What a restore job serves, as the control API asked for it (checked by <see cref="JobManager.StartJobAsync"/>).</summary>
/// <param name="ImagesDirectory">The checkpoint's images.</param>
/// <param name="WorkDirectory">Where lazy-pages.socket goes (default: the images directory).</param>
/// <param name="PageServer">A remote source of the lazy pages, or null for local images.</param>
/// <param name="NoBackground">Serve faults only.</param>
/// <param name="Engine">Overrides of <c>lazy-actors.engine</c> keys for this job.</param>
public sealed record JobSpec(
    string ImagesDirectory,
    string? WorkDirectory,
    PageServerSpec? PageServer,
    bool NoBackground,
    IReadOnlyDictionary<string, string> Engine);

/// <summary>A CRIU page server to read the lazy pages from (the job spec carries it; see <see cref="JobManager.StartJobAsync"/>).</summary>
/// <param name="Address">Host name or address.</param>
/// <param name="Port">TCP port.</param>
/// <param name="Tls">Use TLS (as <c>criu --tls</c>).</param>
/// <param name="CaFile">CA certificate (PEM).</param>
/// <param name="CertFile">Client certificate (PEM).</param>
/// <param name="KeyFile">Client key (PEM).</param>
/// <param name="Akka">Our Akka.Remote transport instead of CRIU's protocol (metadata and pages from
/// <c>page-server --transport akka</c>); <paramref name="Address"/> may then be a whole <c>akka.tcp://</c> address.</param>
/// <param name="CheckpointName">With <paramref name="Akka"/>: the checkpoint to ask for (null: the one the source serves).</param>
public sealed record PageServerSpec(string Address, int Port, bool Tls, string? CaFile, string? CertFile, string? KeyFile, bool Akka = false, string? CheckpointName = null)
{
    /// <summary>True when <see cref="Address"/> is a whole Akka address (its port is in it).</summary>
    public bool IsAkkaAddress => Address.StartsWith("akka.tcp://", StringComparison.Ordinal) || Address.StartsWith("akka://", StringComparison.Ordinal);

    /// <inheritdoc />
    public override string ToString() => IsAkkaAddress ? Address : $"{Address}:{Port}{(Tls ? " (tls)" : "")}{(Akka ? " (akka)" : "")}";
}
