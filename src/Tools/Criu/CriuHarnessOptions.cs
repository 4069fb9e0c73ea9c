namespace LazyActors.Tools.Criu;

/// <summary>Bounds and switches of the CRIU harness. Every wait of every step has one of these bounds.</summary>
public sealed record CriuHarnessOptions
{
    /// <summary>Pass <c>--shell-job</c> to dump and restore (harmless when the workload leads its own session).</summary>
    public bool ShellJob { get; init; } = true;

    /// <summary>CRIU log level for dump, restore and page-server (<c>-vN</c>), null for CRIU's default.</summary>
    public int? CriuVerbosity { get; init; }

    /// <summary>Bound of <c>criu dump</c> (a normal dump writes every page) and of the wait for the dumped tree to be reaped.</summary>
    public TimeSpan DumpTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Bound of the wait for the daemon (or a source page server) to listen.</summary>
    public TimeSpan ListenTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Bound of <c>criu restore -d</c> until it returns.</summary>
    public TimeSpan RestoreTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Bound from the trigger until the restored tree has ended (CRIU's own daemon needs tens of seconds for 1 GiB trees).</summary>
    public TimeSpan RunTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Bound of the wait for the daemon (and a remote source) to exit by itself once the restored tree has ended.</summary>
    public TimeSpan DaemonExitTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Called after <c>criu restore</c> returned and before the trigger, with the daemon's and the restored root's
    /// pids (and, through a page server, the running source): a place to inject faults (kill the daemon or the source,
    /// start the source again later) and see the harness report the failure or the recovery. Awaited before the trigger.
    /// </summary>
    public Func<RestoredTree, Task>? BeforeTrigger { get; init; }

    /// <summary>
    /// Called once the daemon listens and before <c>criu restore</c> starts, awaited: a place to kill the daemon before
    /// the restorer connects.
    /// </summary>
    public Func<RestoreMoment, Task>? BeforeRestore { get; init; }

    /// <summary>
    /// Started as <c>criu restore</c> starts (with its pid) and awaited once it returned (bounded by
    /// <see cref="RestoreTimeout"/>): a place to act while the handshake runs (pause the restorer, kill the daemon).
    /// </summary>
    public Func<RestoreMoment, Task>? DuringRestore { get; init; }

    /// <summary>Progress lines (the bench prints them to stderr).</summary>
    public Action<string>? Progress { get; init; }
}
