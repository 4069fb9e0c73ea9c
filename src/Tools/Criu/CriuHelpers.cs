namespace LazyActors.Tools.Criu;

/// <summary>
/// The harness's own programs, built with the tools and copied next to <c>LazyActors.Tools.dll</c> (see
/// NativeHelpers.targets): <c>la_reaper</c> (Native/la_reaper.c, the child subreaper every step runs under),
/// <c>criu_workload</c> (Native/criu_workload.c, the process tree that is dumped and restored) and
/// <c>criu_python_workload.py</c> (Workloads/, the real program). Nothing is compiled at run time.
/// </summary>
public static class CriuHelpers
{
    /// <summary>File name of the subreaper.</summary>
    public const string ReaperName = "la_reaper";

    /// <summary>File name of the native workload.</summary>
    public const string WorkloadName = "criu_workload";

    /// <summary>File name of the python workload script.</summary>
    public const string PythonScriptName = "criu_python_workload.py";

    /// <summary>The directory of the tools assembly, where the helpers are.</summary>
    public static string Directory => Path.GetDirectoryName(ToolsInvocation.AssemblyPath) ?? AppContext.BaseDirectory;

    /// <summary>Path of the subreaper.</summary>
    public static string ReaperPath => Path.Combine(Directory, ReaperName);

    /// <summary>Path of the native workload.</summary>
    public static string WorkloadPath => Path.Combine(Directory, WorkloadName);

    /// <summary>Path of the python workload script.</summary>
    public static string PythonScriptPath => Path.Combine(Directory, PythonScriptName);

    /// <summary>Null when the subreaper and the native workload are in place, else why the harness cannot run.</summary>
    public static string? MissingReason()
    {
        var missing = new[] { ReaperPath, WorkloadPath, PythonScriptPath }.Where(p => !File.Exists(p)).ToList();
        return missing.Count == 0
            ? null
            : $"the CRIU harness needs {string.Join(", ", missing)}, which the build of src/Tools produces from Criu/Native and Criu/Workloads (rebuild with a C compiler on PATH)";
    }
}
