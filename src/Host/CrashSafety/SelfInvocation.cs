namespace LazyActors.Host.CrashSafety;

/// <summary>How this program starts itself again (the guardian, a successor, a detached daemon): its executable (the
/// native program, or an apphost), and the host assembly when the executable is <c>dotnet</c>.</summary>
internal static class SelfInvocation
{
    public static IReadOnlyList<string> Prefix()
    {
        var executable = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(executable) == "dotnet"
            ? [executable, HostInvocation.AssemblyPath]
            : [executable];
    }

    /// <summary>The daemon's arguments for a successor: without what only the first start had (its readiness
    /// descriptor, detaching, a resume channel of its own).</summary>
    public static List<string> SuccessorArguments(IReadOnlyList<string> daemonArguments)
    {
        var kept = new List<string>();
        for (var i = 0; i < daemonArguments.Count; i++)
        {
            var token = daemonArguments[i];
            if (token is "-d" or "--daemon")
            {
                continue;
            }

            if (token is "--status-fd" or "--resume-fd")
            {
                i++;
                continue;
            }

            if (token.StartsWith("--status-fd=", StringComparison.Ordinal) || token.StartsWith("--resume-fd=", StringComparison.Ordinal))
            {
                continue;
            }

            kept.Add(token);
        }

        return kept;
    }
}
