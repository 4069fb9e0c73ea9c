using LazyActors.Host;

namespace LazyActors.Tools;

/// <summary>
/// How to start a verb of these tools in a fresh process (<c>dotnet LazyActors.Tools.dll VERB ...</c>): the restore
/// simulator runs each simulated task in its own process, and the bench runs the simulator.
/// </summary>
public static class ToolsInvocation
{
    /// <summary>The tools assembly, <c>LazyActors.Tools.dll</c>.</summary>
    public static string AssemblyPath => typeof(ToolsInvocation).Assembly.Location;

    /// <summary>The argv prefix that runs a verb of the tools: the dotnet executable and the tools assembly.</summary>
    public static IReadOnlyList<string> Prefix() => [HostInvocation.DotnetExecutable(), AssemblyPath];
}
