namespace LazyActors.Host;

/// <summary>
/// How to start this host in a fresh process: <c>dotnet LazyActors.Host.dll VERB ...</c>. The tools (bench) and the
/// tests start the daemon this way, exactly as users run it.
/// </summary>
public static class HostInvocation
{
    /// <summary>The host assembly: <c>LazyActors.Host.dll</c> in the running program's directory (next to the caller's
    /// own assembly when the caller references the host project; next to the native program in a published directory,
    /// whose IL build sits beside it). Not <c>Assembly.Location</c>: a native (NativeAOT) program has no assembly file,
    /// and there it is empty (IL3000).</summary>
    public static string AssemblyPath => Path.Combine(AppContext.BaseDirectory, typeof(HostInvocation).Assembly.GetName().Name + ".dll");

    /// <summary>The argv prefix that runs a verb of this host: the dotnet executable and the host assembly.</summary>
    public static IReadOnlyList<string> Prefix() => [DotnetExecutable(), AssemblyPath];

    /// <summary>The dotnet executable running us, else the one under DOTNET_ROOT, else <c>dotnet</c> from PATH.</summary>
    public static string DotnetExecutable()
    {
        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current).Equals("dotnet", StringComparison.Ordinal))
        {
            return current;
        }

        foreach (var variable in new[] { "DOTNET_HOST_PATH", "DOTNET_ROOT" })
        {
            var value = Environment.GetEnvironmentVariable(variable);
            if (string.IsNullOrEmpty(value))
            {
                continue;
            }

            var candidate = File.Exists(value) && !Directory.Exists(value) ? value : Path.Combine(value, "dotnet");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return "dotnet";
    }
}
