using LazyActors.Tools.Bench.Criu;

namespace LazyActors.Tools.Bench;

/// <summary>Settings of one <c>bench</c> invocation.</summary>
public sealed record BenchOptions
{
    /// <summary>Scenarios to run (empty = probes only).</summary>
    public IReadOnlyList<BenchScenario> Scenarios { get; init; } = BenchScenarios.All;

    /// <summary>Runs per scenario (each with a fresh daemon and fresh simulated tasks).</summary>
    public int Runs { get; init; } = 1;

    /// <summary>
    /// The daemon command without its lazy-pages options, e.g. <c>["criu", "lazy-pages"]</c>; null = this host's own
    /// <c>lazy-pages</c> verb.
    /// </summary>
    public IReadOnlyList<string>? DaemonCommand { get; init; }

    /// <summary>
    /// Several daemons to run the same scenarios against, side by side in one table; a null entry is this host's own
    /// engine. When null, only <see cref="DaemonCommand"/> (or the own engine) is measured.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<string>?>? DaemonCommands { get; init; }

    /// <summary>The argv prefix that runs this host for <c>self</c>: the published (NativeAOT) build
    /// (<see cref="PublishedHost"/>); null = the IL build next to the tools (<c>self-il</c>).</summary>
    public IReadOnlyList<string>? OwnHostPrefix { get; init; }

    /// <summary>The daemons measured, in order (null = this host's own engine).</summary>
    public IReadOnlyList<IReadOnlyList<string>?> EffectiveDaemons => DaemonCommands is { Count: > 0 } list ? list : [DaemonCommand];

    /// <summary>Probe sizes.</summary>
    public ProbeSettings Probes { get; init; } = new();

    /// <summary>Bound of the wait for the daemon's readiness byte.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Bound of each restore simulation (passed to restore-sim as its --timeout).</summary>
    public TimeSpan RestoreTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Bound of the wait for the daemon to exit by itself after the restore.</summary>
    public TimeSpan ExitTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Wall-clock budget of the whole invocation, null = 9 minutes per run. Runs that would start after it is spent
    /// are skipped, and each run's restore timeout is cut to what is left, so a bench of every local scenario with
    /// one run ends within 10 minutes even when a daemon hangs.
    /// </summary>
    public TimeSpan? TimeBudget { get; init; }

    /// <summary>The budget in effect.</summary>
    public TimeSpan EffectiveTimeBudget => TimeBudget ?? TimeSpan.FromMinutes(9) * Math.Max(1, Runs);

    /// <summary>Parent of the temporary directory (checkpoints, work dirs, daemon logs); the system temp dir by default.</summary>
    public string? TempRoot { get; init; }

    /// <summary>Keep the temporary directory (for reading daemon logs) instead of deleting it.</summary>
    public bool KeepTemp { get; init; }

    /// <summary>
    /// What restores the checkpoints: the restore simulator (synthetic checkpoints, <see cref="Scenarios"/>) or real
    /// CRIU (dumps of real process trees, <see cref="CriuScenarios"/>).
    /// </summary>
    public BenchRestorer Restorer { get; init; } = BenchRestorer.Simulator;

    /// <summary>The scenarios of <c>--restorer criu</c>.</summary>
    public IReadOnlyList<CriuBenchScenario> CriuScenarios { get; init; } = CriuBenchScenarios.Select([]);

    /// <summary>The daemons of <c>--restorer criu</c>, as given to <c>--daemon</c>: <c>self</c>, <c>criu</c> or a command.</summary>
    public IReadOnlyList<string> CriuDaemons { get; init; } = ["self"];

    /// <summary>
    /// The page servers of the remote scenarios of <c>--restorer criu</c>, as given to <c>--source</c>: <c>criu</c>
    /// (<c>criu page-server --lazy-pages</c>) or <c>self</c> (this host's <c>page-server</c>); each is paired with every daemon.
    /// </summary>
    public IReadOnlyList<string> CriuSources { get; init; } = ["criu", "self"];

    /// <summary>The CRIU binary for <c>--restorer criu</c>; null = $LAZYACTORS_CRIU or ../shared/tools/criu-4.2/criu.</summary>
    public string? CriuPath { get; init; }

    /// <summary>
    /// With <c>--restorer criu</c>: a daemon whose run of a scenario takes longer than this gets no more runs of that
    /// scenario (CRIU's own daemon needs 40+ s on the large trees).
    /// </summary>
    public TimeSpan DaemonRunBudget { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// With <c>--restorer criu</c>: the bound from the trigger until the restored tree has ended (CRIU's own daemon
    /// took 127 s for the 8 x 128 MiB tree on a busy 2-CPU machine).
    /// </summary>
    public TimeSpan CriuRunTimeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>Progress lines (stderr in the CLI).</summary>
    public Action<string>? Progress { get; init; }
}
