using System.CommandLine;
using LazyActors.Host.Commands;

namespace LazyActors.Host;

/// <summary>Entry point of <c>LazyActors.Host.dll</c>: one subcommand per verb.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("LazyActors: an actor-based, CRIU-compatible lazy-pages (post-copy) daemon.");
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }

        return root.Parse(args).Invoke();
    }
}
