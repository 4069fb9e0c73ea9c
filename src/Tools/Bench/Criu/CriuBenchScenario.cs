using LazyActors.Tools.Criu;

namespace LazyActors.Tools.Bench.Criu;

/// <summary>
/// One scenario of <c>bench --restorer criu</c>: a workload dumped once by real CRIU and restored lazily by every
/// daemon of the invocation. <see cref="Python"/> scenarios run the python program (skipped where python3 is absent);
/// the others run the native tree.
/// </summary>
/// <param name="Name">Name given to <c>--scenario</c>.</param>
/// <param name="Description">One line for the table.</param>
/// <param name="Tree">The native tree's shape, or null for the python program.</param>
/// <param name="Python">The python program's size (MiB of bytes, dict entries), or null.</param>
/// <param name="Smoke">True for the small scenarios of a smoke run (<c>--scenario smoke</c>).</param>
/// <param name="Remote">True when the pages come from a page server on 127.0.0.1 (every <c>--source</c> with every
/// <c>--daemon</c>, the daemon given the images without the lazy pages' data).</param>
/// <param name="OnRequest">True for a scenario run only when named (not part of <c>all</c>), such as the local twins
/// of the remote scenarios.</param>
public sealed record CriuBenchScenario(string Name, string Description, TreeWorkload? Tree = null, (int MiB, int Entries)? Python = null, bool Smoke = false, bool Remote = false,
    bool OnRequest = false)
{
    /// <summary>The workload to dump, or null and why it cannot run here.</summary>
    public async Task<(CriuWorkload? Workload, string? Problem)> WorkloadAsync()
    {
        if (Tree is not null)
        {
            return (Tree, null);
        }

        var (interpreter, problem) = await PythonWorkload.LocateAsync().ConfigureAwait(false);
        return interpreter is null || Python is not { } size
            ? (null, problem ?? "no python size given")
            : (new PythonWorkload(interpreter, size.MiB, size.Entries), null);
    }
}
