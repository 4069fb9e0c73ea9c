using System.CommandLine;

namespace LazyActors.Host.Commands;

/// <summary>Every verb the host offers. Each verb lives in its own file and is listed here once.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return VersionCommand.Create();
        yield return LazyPagesCommand.Create();
        yield return PageServerCommand.Create();
        yield return InspectCommand.Create();
        yield return SplitCommand.Create();
        yield return MergeCommand.Create();
        yield return ServeCommand.Create();
        yield return JobsCommand.Create();
        yield return GuardianCommand.Create();
    }
}
