namespace LazyActors.Tools.Criu;

/// <summary>How a reaped step ended: everything below the reaper was reaped and the reaper itself exited.</summary>
/// <param name="ExitCode">The reaper's exit code (the command's, 128+signal if it was killed, 124 past the deadline), null if the reaper was killed.</param>
/// <param name="DeadlinePassed">True when the reaper's deadline passed and it killed what was left.</param>
/// <param name="Exits">Every process reaped, in order.</param>
/// <param name="Killed">Pids the reaper killed (deadline, a termination request, or its parent gone).</param>
public sealed record ReaperOutcome(int? ExitCode, bool DeadlinePassed, IReadOnlyList<ReaperExit> Exits, IReadOnlyList<int> Killed);
