using System.CommandLine;
using LazyActors.Host.Commands;

namespace LazyActors.Host;

/// <summary>Entry point of <c>LazyActors.Host.dll</c>: one subcommand per verb.</summary>
public static class Program
{
    /// <summary>Runs one verb; returns its exit code.</summary>
    public static int Main(string[] args)
    {
        Engine.Diagnostics.StartupTrace.MarkMain();
        var root = new RootCommand("LazyActors: an actor-based, CRIU-compatible lazy-pages (post-copy) daemon.");
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }

        // lazy-pages turns Ctrl+C into a cancelled restore itself; the parser must not also end the process on a signal.
        // Every verb reports bad input as one line; what escapes is a bug, still reported as one line (no trace on a
        // terminal that an operator reads, unless LAZYACTORS_TRACE=1 asks for it).
        try
        {
            return root.Parse(args).Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex)
        {
            var verb = args.Length > 0 ? args[0] : "lazyactors";
            Console.Error.WriteLine(Environment.GetEnvironmentVariable("LAZYACTORS_TRACE") == "1"
                ? $"{verb}: internal error: {ex}"
                : $"{verb}: internal error: {ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")} (set LAZYACTORS_TRACE=1 for the trace)");
            return 70;
        }
    }
}
