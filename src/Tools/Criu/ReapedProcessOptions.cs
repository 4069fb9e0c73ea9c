namespace LazyActors.Tools.Criu;

/// <summary>How to start one command under its own <c>la_reaper</c> (see <see cref="ReapedProcess"/>).</summary>
public sealed record ReapedProcessOptions
{
    /// <summary>
    /// The command. With <see cref="StatusPipe"/>, every word equal to <see cref="ReapedProcess.StatusFdToken"/> is
    /// replaced with the descriptor number the command gets the pipe's write end on.
    /// </summary>
    public required IReadOnlyList<string> Argv { get; init; }

    /// <summary>The file stdout and stderr are appended to (created if absent); stdin is /dev/null.</summary>
    public required string LogPath { get; init; }

    /// <summary>
    /// After this long the reaper kills (SIGKILL, by pid) everything below it, whatever the harness does: the outer
    /// bound of the step.
    /// </summary>
    public required TimeSpan Deadline { get; init; }

    /// <summary>Working directory of the command (default: the harness's).</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>The command starts a new session (setsid): it leads its own session and process group.</summary>
    public bool NewSession { get; init; }

    /// <summary>The command is PID 1 of a new pid namespace (its session starts inside, after the clone).</summary>
    public bool NewPidNamespace { get; init; }

    /// <summary>Give the command the write end of a pipe for a <c>--status-fd</c> readiness byte.</summary>
    public bool StatusPipe { get; init; }
}
