using System.CommandLine;
using LazyActors.Host.Commands;

namespace LazyActors.Host;

/// <summary>
/// Entry point of <c>LazyActors.Guardian</c>: the daemon's hidden <c>guardian</c> verb alone (same command line,
/// <c>LazyActors.Guardian guardian --channel-fd N ...</c>), so that the guardian does not start the daemon's whole
/// program (see the project file).
/// </summary>
public static class GuardianProgram
{
    /// <summary>Runs the guardian; returns its exit code (as the daemon's <c>guardian</c> verb).</summary>
    public static int Main(string[] args)
    {
        var root = new RootCommand("The crash guardian of a LazyActors lazy-pages restore (started by lazy-pages).");
        root.Subcommands.Add(GuardianCommand.Create());
        try
        {
            return root.Parse(args).Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"lazy-pages guardian: internal error: {ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}");
            return 70;
        }
    }
}
