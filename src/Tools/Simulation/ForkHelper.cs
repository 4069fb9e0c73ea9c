namespace LazyActors.Tools.Simulation;

/// <summary>
/// The C helper of the fork scenario (.NET cannot fork a running runtime safely): <c>Native/fork_task.c</c>, compiled
/// when the tools project is built and copied next to <c>LazyActors.Tools.dll</c> as <c>fork_task</c>. Nothing is
/// compiled at run time.
/// </summary>
public static class ForkHelper
{
    /// <summary>The helper's file name next to the tools assembly.</summary>
    public const string FileName = "fork_task";

    /// <summary>Where the helper is expected: next to the tools assembly.</summary>
    public static string ExpectedPath => Path.Combine(Path.GetDirectoryName(ToolsInvocation.AssemblyPath) ?? AppContext.BaseDirectory, FileName);

    /// <summary>Null when the helper is in place, otherwise the reason the fork scenario cannot run.</summary>
    public static string? UnavailableReason() =>
        File.Exists(ExpectedPath)
            ? null
            : $"the fork scenario needs its native helper {ExpectedPath}, which the build of src/Tools compiles from Simulation/Native/fork_task.c (rebuild with a C compiler on PATH)";

    /// <summary>The helper's path.</summary>
    /// <exception cref="FileNotFoundException">The helper is not next to the tools assembly.</exception>
    public static string Locate() =>
        UnavailableReason() is { } reason ? throw new FileNotFoundException(reason, ExpectedPath) : ExpectedPath;
}
