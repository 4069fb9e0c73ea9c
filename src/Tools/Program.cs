using System.CommandLine;
using LazyActors.Tools.Commands;

namespace LazyActors.Tools;

/// <summary>
/// Entry point of <c>LazyActors.Tools.dll</c>: what tests and measurement need around the daemon (restore simulator,
/// synthetic checkpoints, bench, demo). The daemon itself is <c>LazyActors.Host.dll</c>.
/// </summary>
public static class Program
{
    /// <summary>Runs one verb; returns its exit code.</summary>
    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("LazyActors tools: restore simulator, synthetic checkpoints, bench and demo for the lazy-pages daemon.");
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }

        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
    }
}
