using System.Globalization;

namespace LazyActors.Tools.Criu;

/// <summary>
/// The native workload (<c>criu_workload</c>): <paramref name="Tasks"/> processes, each with
/// <paramref name="MiBPerTask"/> MiB of patterned anonymous memory, first-touched in <paramref name="Touch"/> order
/// after the restore (each touch timed) and then checked word by word.
/// </summary>
/// <param name="Tasks">Processes in the tree (root included), 1–255.</param>
/// <param name="MiBPerTask">Anonymous private memory per process, MiB.</param>
/// <param name="Touch">First-touch order.</param>
/// <param name="Shape">How the tasks are parented.</param>
/// <param name="StridePages">The stride of <see cref="WorkloadTouch.Stride"/>, pages.</param>
/// <param name="Seed">The pattern's seed (16 bits).</param>
public sealed record TreeWorkload(int Tasks, int MiBPerTask, WorkloadTouch Touch, TreeShape Shape = TreeShape.Flat, int StridePages = 16, ushort Seed = 0xC417) : CriuWorkload
{
    /// <inheritdoc />
    public override string Name => string.Create(CultureInfo.InvariantCulture, $"{Tasks}x{MiBPerTask}m-{Touch.ToString().ToLowerInvariant()}");

    /// <inheritdoc />
    public override int TaskCount => Tasks;

    /// <inheritdoc />
    public override long BytesPerTask => (long)MiBPerTask << 20;

    /// <inheritdoc />
    public override IReadOnlyList<string> Command(string workloadDir)
    {
        if (Tasks is < 1 or > 255)
        {
            throw new ArgumentOutOfRangeException(nameof(Tasks), Tasks, "The native workload runs 1 to 255 tasks.");
        }

        string touch = Touch switch
        {
            WorkloadTouch.Seq => "seq",
            WorkloadTouch.Rand => "rand",
            _ => string.Create(CultureInfo.InvariantCulture, $"stride:{StridePages}"),
        };
        return
        [
            CriuHelpers.WorkloadPath, "--dir", workloadDir, "--tasks", Number(Tasks), "--mib", Number(MiBPerTask),
            "--shape", Shape == TreeShape.Binary ? "binary" : "flat", "--touch", touch, "--seed", Number(Seed),
        ];
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
}
