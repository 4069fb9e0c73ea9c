namespace LazyActors.Host.Service.Jobs;

/// <summary>What a restore job serves, as the control API asked for it (checked by <see cref="JobManager.Start"/>).</summary>
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

/// <summary>A CRIU page server to read the lazy pages from (the job spec carries it; see <see cref="JobManager.Start"/>).</summary>
/// <param name="Address">Host name or address.</param>
/// <param name="Port">TCP port.</param>
/// <param name="Tls">Use TLS (as <c>criu --tls</c>).</param>
/// <param name="CaFile">CA certificate (PEM).</param>
/// <param name="CertFile">Client certificate (PEM).</param>
/// <param name="KeyFile">Client key (PEM).</param>
public sealed record PageServerSpec(string Address, int Port, bool Tls, string? CaFile, string? CertFile, string? KeyFile)
{
    /// <inheritdoc />
    public override string ToString() => $"{Address}:{Port}{(Tls ? " (tls)" : "")}";
}
