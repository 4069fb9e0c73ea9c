namespace LazyActors.Host.Service;

/// <summary>
/// The service's own settings (<c>LazyActors:Service</c> in <c>config/appsettings.json</c>, environment variables such as
/// <c>LazyActors__Service__Http</c>, then the <c>serve</c> flags). The engine's tuning is HOCON (<c>lazy-actors.engine</c>).
/// </summary>
public sealed class ServiceOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "LazyActors:Service";

    /// <summary>Where <c>serve</c> listens and <c>jobs</c> connects unless told otherwise.</summary>
    public const string DefaultControlSocket = "/run/lazy-actors/control.sock";

    /// <summary>The control API's Unix socket (root-only: mode 0600 in a 0700 directory, peers of another uid refused).</summary>
    public string ControlSocket { get; set; } = DefaultControlSocket;

    /// <summary><c>127.0.0.1:PORT</c> (or another loopback address) for <c>/metrics</c>, <c>/healthz</c> and the
    /// status page; null = none.</summary>
    public string? Http { get; set; }

    /// <summary>On SIGTERM, how long restores in progress may take to finish before they are cancelled.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Default least time between two progress updates of <c>WatchJob</c>.</summary>
    public TimeSpan WatchInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Jobs that may run at once; more are refused (resource exhausted).</summary>
    public int MaxJobs { get; set; } = 64;

    /// <summary>Finished jobs kept for <c>jobs list</c> / <c>jobs watch</c> (the oldest are forgotten first).</summary>
    public int FinishedJobsKept { get; set; } = 100;

    /// <summary>The shared page cache.</summary>
    public PageCacheOptions PageCache { get; set; } = new();

    /// <summary>
    /// Under systemd (<c>NOTIFY_SOCKET</c> set): each job's listening socket, restorer connection and uffds are kept in
    /// systemd's file-descriptor store (the unit's <c>FileDescriptorStoreMax=</c>), so a restart of the service after a
    /// crash finds them (<c>LISTEN_FDS</c>) and finishes its restores. Off: a crash of the service loses its restores.
    /// </summary>
    public bool FdStore { get; set; } = true;

    /// <summary>Where the service keeps what its restart needs beside the fd store: each running job's spec and crash
    /// journal (removed when the job ends). Null: systemd's <c>STATE_DIRECTORY</c> (the unit's <c>StateDirectory=</c>),
    /// else <see cref="DefaultStateDirectory"/>. Only used with the fd store.</summary>
    public string? StateDirectory { get; set; }

    /// <summary>The state directory when neither the settings nor systemd name one.</summary>
    public const string DefaultStateDirectory = "/var/lib/lazy-actors";

    /// <summary>The state directory in use (see <see cref="StateDirectory"/>).</summary>
    public string ResolvedStateDirectory =>
        StateDirectory is { Length: > 0 } configured ? configured
        : Environment.GetEnvironmentVariable("STATE_DIRECTORY") is { Length: > 0 } systemd ? systemd.Split(':')[0]
        : DefaultStateDirectory;
}

/// <summary>The shared page cache's settings (<c>LazyActors:Service:PageCache</c>).</summary>
public sealed class PageCacheOptions
{
    /// <summary>The cache exists (its size and evictions are metered): jobs whose pages come from a page server read them
    /// through it, the jobs of one remote checkpoint over one session (each page sent once); restores of one local
    /// checkpoint go through it with <see cref="LocalImages"/>. Off: every remote job has a session of its own.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Bound on cached page bytes.</summary>
    public long CapacityBytes { get; set; } = 256L << 20;

    /// <summary>Put local images through the cache too (they are mapped and shared by the kernel already, so this only
    /// adds a copy; useful to measure the cache, or for images on a slow or remote file system).</summary>
    public bool LocalImages { get; set; }
}
