using System.CommandLine;
using LazyActors.Host.Commands;

namespace LazyActors.Host;

/// <summary>Entry point of <c>LazyActors.Host.dll</c>: one subcommand per verb.</summary>
public static class Program
{
    /// <summary>Runs one verb; returns its exit code.</summary>
    public static int Main(string[] args)
    {
        var root = new RootCommand("LazyActors: an actor-based, CRIU-compatible lazy-pages (post-copy) daemon.");
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }

        // lazy-pages turns Ctrl+C into a cancelled restore itself; the parser must not also end the process on a signal.
        return root.Parse(args).Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }
}
