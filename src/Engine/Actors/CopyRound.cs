namespace LazyActors.Engine.Actors;

/// <summary>How a turn of <see cref="TaskCopyQueue"/> ended.</summary>
internal enum CopyRoundEnd
{
    /// <summary>Everything it could copy was copied (a background job may have slices left).</summary>
    Copied,

    /// <summary>The uffd refused a copy with EAGAIN: <see cref="CopyRound.BlockedJob"/> is to be retried.</summary>
    Blocked,

    /// <summary>The task is gone (ESRCH/ENOSPC): nothing more can be copied.</summary>
    TaskGone,
}

/// <summary>The result of a turn of <see cref="TaskCopyQueue"/>; no allocation on the fault path.</summary>
internal readonly struct CopyRound
{
    private CopyRound(CopyRoundEnd end, CopyJob? job, string? goneReason)
    {
        End = end;
        Job = job;
        GoneReason = goneReason;
    }

    public CopyRoundEnd End { get; }

    /// <summary>The background chunk this turn finished, if any (to report to the pusher).</summary>
    public CopyJob? FinishedChunk => End == CopyRoundEnd.Copied ? Job : null;

    /// <summary>The job refused with EAGAIN (its <see cref="CopyJob.Retries"/> already counts this refusal).</summary>
    public CopyJob? BlockedJob => End == CopyRoundEnd.Blocked ? Job : null;

    /// <summary>Why the task is gone.</summary>
    public string? GoneReason { get; }

    private CopyJob? Job { get; }

    public static CopyRound Copied(CopyJob? finishedChunk) => new(CopyRoundEnd.Copied, finishedChunk, null);

    public static CopyRound Blocked(CopyJob job) => new(CopyRoundEnd.Blocked, job, null);

    public static CopyRound TaskGone(string reason) => new(CopyRoundEnd.TaskGone, null, reason);
}
