using System.CommandLine;

namespace LazyActors.Tools.Commands;

/// <summary>Every verb of the tools. Each verb lives in its own file and is listed here once.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return DemoCommand.Create();
        yield return SynthCommand.Create();
        yield return RestoreSimCommand.Create();
        yield return BenchCommand.Create();
        yield return ServiceBenchCommand.Create();
        yield return RestoreSimTaskCommand.Create();
        yield return TouchFloorTaskCommand.Create();
    }
}
