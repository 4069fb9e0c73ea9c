namespace LazyActors.Tools.Criu;

/// <summary>
/// A program the harness dumps and restores: its command line, how many tasks report, and what counts as every byte
/// right. Every task writes <c>ready-N</c> into the workload directory before the dump and <c>result-N.json</c> after
/// the restore, once triggered by SIGUSR1 to the root.
/// </summary>
public abstract record CriuWorkload
{
    /// <summary>A short name for logs, directories and tables.</summary>
    public abstract string Name { get; }

    /// <summary>Tasks that write a ready and a result file (indexes 0..TaskCount−1).</summary>
    public abstract int TaskCount { get; }

    /// <summary>Bytes each task must verify after the restore.</summary>
    public abstract long BytesPerTask { get; }

    /// <summary>The whole workload's verified bytes.</summary>
    public long TotalBytes => TaskCount * BytesPerTask;

    /// <summary>Bound of the wait for every ready file (building the memory takes time).</summary>
    public virtual TimeSpan ReadyTimeout => TimeSpan.FromSeconds(30 + (TotalBytes >> 20) / 100);

    /// <summary>The command line that starts the workload writing its files into <paramref name="workloadDir"/>.</summary>
    public abstract IReadOnlyList<string> Command(string workloadDir);

    /// <summary>
    /// What is wrong with one task's result, or null when every byte it had to verify is right. The base checks the
    /// status and the byte counts; workloads add their own checks.
    /// </summary>
    public virtual string? Problem(WorkloadReady ready, WorkloadTaskReport report)
    {
        ArgumentNullException.ThrowIfNull(ready);
        ArgumentNullException.ThrowIfNull(report);
        if (report.Status != "ok")
        {
            return $"status {report.Status}: {report.MismatchedPages} mismatching pages ({report.ZeroPages} all zero), first at page {report.FirstMismatchPage} (expected 0x{report.FirstMismatchExpected:x16}, found 0x{report.FirstMismatchActual:x16})";
        }

        if (report.BytesChecked != BytesPerTask || report.BytesVerified != BytesPerTask || report.MismatchedPages != 0)
        {
            return $"verified {report.BytesVerified} of {report.BytesChecked} checked bytes, {BytesPerTask} expected ({report.MismatchedPages} mismatching pages)";
        }

        return null;
    }
}
