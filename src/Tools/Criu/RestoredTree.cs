namespace LazyActors.Tools.Criu;

/// <summary>A restored tree waiting for its trigger (see <see cref="CriuHarnessOptions.BeforeTrigger"/>).</summary>
/// <param name="DaemonPid">The lazy-pages daemon serving it.</param>
/// <param name="RootPid">The restored root (in the harness's pid namespace).</param>
/// <param name="WorkDirectory">The restore's work directory (socket, logs).</param>
public sealed record RestoredTree(int DaemonPid, int RootPid, string WorkDirectory)
{
    /// <summary>The page server the daemon fetches from, in a restore through one (to kill and start again); else null.</summary>
    public RunningPageServer? Source { get; init; }
}
