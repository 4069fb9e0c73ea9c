namespace LazyActors.Tools.Criu;

/// <summary>
/// Where a restore stands when a harness hook (<see cref="CriuHarnessOptions.BeforeRestore"/>,
/// <see cref="CriuHarnessOptions.DuringRestore"/>) is called: the daemon listening, and once it runs, <c>criu restore</c>.
/// </summary>
/// <param name="DaemonPid">The daemon the harness started (the one a user would kill).</param>
/// <param name="RestorePid">The <c>criu restore</c> process, or 0 before it started.</param>
/// <param name="WorkDirectory">The restore's work directory (the daemon's log is <c>daemon.log</c> there).</param>
public sealed record RestoreMoment(int DaemonPid, int RestorePid, string WorkDirectory);
