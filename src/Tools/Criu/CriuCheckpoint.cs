using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;

namespace LazyActors.Tools.Criu;

/// <summary>
/// A workload dumped by real CRIU (<see cref="CriuHarness.DumpAsync(CriuWorkload, string, bool, CancellationToken)"/>), ready to be restored any number of times,
/// by one daemon after another. Its directory holds <c>wl/</c> (the workload's working directory: ready, result
/// and log files), <c>img/</c> (the images) and one work directory per restore.
/// </summary>
public sealed class CriuCheckpoint
{
    private int _restores;

    internal CriuCheckpoint(CriuWorkload workload, string runDirectory, string imagesDirectory, string workloadDirectory, IReadOnlyList<WorkloadReady> ready, double dumpSeconds)
    {
        Workload = workload;
        RunDirectory = runDirectory;
        ImagesDirectory = imagesDirectory;
        WorkloadDirectory = workloadDirectory;
        Ready = ready;
        DumpSeconds = dumpSeconds;
        WorkloadLogSizeAtDump = File.Exists(WorkloadLogPath) ? new FileInfo(WorkloadLogPath).Length : 0;
        using var checkpoint = Checkpoint.Open(imagesDirectory);
        LazyBytes = checkpoint.Tasks.Sum(t => (long)t.LazyPages) * (long)PageGeometry.PageSize;
    }

    /// <summary>True when the dumped root was PID 1 of its own pid namespace (CRIU restores each copy in a new one).</summary>
    public bool OwnPidNamespace { get; init; }

    /// <summary>What was dumped.</summary>
    public CriuWorkload Workload { get; }

    /// <summary>The directory of this checkpoint and its restores.</summary>
    public string RunDirectory { get; }

    /// <summary>The images <c>criu dump</c> wrote.</summary>
    public string ImagesDirectory { get; }

    /// <summary>The workload's working directory (ready-N, result-N.json, workload.log).</summary>
    public string WorkloadDirectory { get; }

    /// <summary>The workload's stdout and stderr (opened O_APPEND; CRIU restores it and checks its size).</summary>
    public string WorkloadLogPath => Path.Combine(WorkloadDirectory, "workload.log");

    /// <summary>Its size when dumped: restored again to it before each restore, so CRIU's size check passes.</summary>
    public long WorkloadLogSizeAtDump { get; }

    /// <summary>Each task's ready file, by task index.</summary>
    public IReadOnlyList<WorkloadReady> Ready { get; }

    /// <summary>How long <c>criu dump</c> ran, seconds.</summary>
    public double DumpSeconds { get; }

    /// <summary>Bytes of the pages flagged lazy in the images: what a lazy-pages daemon serves.</summary>
    public long LazyBytes { get; }

    /// <summary>A fresh, short work directory for the next restore (UNIX socket paths must stay under 108 bytes).</summary>
    internal string NewWorkDirectory(string label)
    {
        int n = Interlocked.Increment(ref _restores);
        var path = Path.Combine(RunDirectory, $"r{n}-{new string(label.Where(char.IsAsciiLetterOrDigit).Take(12).ToArray())}");
        Directory.CreateDirectory(path);
        return path;
    }
}
