using System.Diagnostics;
using System.Text.Json;
using LazyActors.Host;

namespace LazyActors.Tools.Bench;

/// <summary>
/// The daemon as it is deployed: <c>dotnet publish src/Host -c Release -o DIR</c>, the NativeAOT program
/// <c>LazyActors.Host</c> with the same program as IL (<c>LazyActors.Host.dll</c>) beside it (see the host's project
/// file), which starts several times faster than the IL build the tools reference. The bench publishes it once per run
/// (or takes a directory published before) so that <c>--daemon self</c> measures what users run.
/// </summary>
public static class PublishedHost
{
    /// <summary>The host project below the repository root.</summary>
    public const string ProjectPath = "src/Host/LazyActors.Host.csproj";

    private const string AssemblyFile = "LazyActors.Host.dll";

    /// <summary>The file the NativeAOT publish writes beside its program (src/Host/LazyActors.Host.csproj): the program
    /// named <c>LazyActors.Host</c> there is native, not an apphost of the IL build.</summary>
    public const string NativeMarkerFile = "LazyActors.Host.native";
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(15);

    /// <summary>The host project of the repository these tools were built from (searched upwards from them), or null.</summary>
    public static string? FindProject()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, ProjectPath);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Publishes <paramref name="project"/> into <paramref name="outputDir"/> and returns the argv prefix that runs it.</summary>
    /// <param name="project">The host project.</param>
    /// <param name="outputDir">Where to publish.</param>
    /// <param name="progress">Where progress lines go, or null.</param>
    /// <param name="timeout">How long the publish may take (NativeAOT's compiler takes minutes of CPU); default 15 min.</param>
    /// <exception cref="InvalidOperationException">The publish failed or took too long (the message has its output's tail).</exception>
    public static IReadOnlyList<string> Publish(string project, string outputDir, Action<string>? progress, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(project);
        ArgumentNullException.ThrowIfNull(outputDir);
        var info = new ProcessStartInfo(HostInvocation.DotnetExecutable());
        foreach (var word in new[] { "publish", project, "-c", "Release", "-o", outputDir, "-nologo" })
        {
            info.ArgumentList.Add(word);
        }

        progress?.Invoke($"publishing the daemon: dotnet publish {project} -c Release -o {outputDir}");
        var clock = Stopwatch.StartNew();
        var limit = timeout ?? PublishTimeout;
        var outcome = ChildProcess.Run(info, limit);
        if (outcome.TimedOut || outcome.ExitCode != 0)
        {
            var tail = string.Join('\n', (outcome.Stdout + outcome.Stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(15));
            throw new InvalidOperationException(outcome.TimedOut
                ? $"dotnet publish {project} took longer than {limit.TotalMinutes:0} min: {tail}"
                : $"dotnet publish {project} failed with exit code {outcome.ExitCode}: {tail}");
        }

        progress?.Invoke($"published in {clock.Elapsed.TotalSeconds:0} s");
        return PrefixFor(outputDir);
    }

    /// <summary>
    /// The argv prefix that runs the host published in <paramref name="dir"/>: the native program when the publish made
    /// one (its marker is there, or the directory holds the program alone, as a NativeAOT publish of its own does), its
    /// own launcher when it is self-contained (the composite ReadyToRun form), else <c>dotnet DIR/LazyActors.Host.dll</c>.
    /// </summary>
    /// <exception cref="FileNotFoundException"><paramref name="dir"/> holds no published host.</exception>
    public static IReadOnlyList<string> PrefixFor(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        var full = Path.GetFullPath(dir);
        var assembly = Path.Combine(full, AssemblyFile);
        var launcher = Path.Combine(full, Path.GetFileNameWithoutExtension(AssemblyFile));
        if (IsNative(full))
        {
            return [launcher];
        }

        if (!File.Exists(assembly))
        {
            throw new FileNotFoundException($"{full} holds no published host (neither the native LazyActors.Host nor {AssemblyFile})", assembly);
        }

        return IsSelfContained(full) && File.Exists(launcher) ? [launcher] : [HostInvocation.DotnetExecutable(), assembly];
    }

    /// <summary>True when <paramref name="dir"/> holds the daemon as a NativeAOT program.</summary>
    public static bool IsNative(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        var full = Path.GetFullPath(dir);
        var launcher = Path.Combine(full, Path.GetFileNameWithoutExtension(AssemblyFile));
        return File.Exists(launcher) && (File.Exists(Path.Combine(full, NativeMarkerFile)) || !File.Exists(Path.Combine(full, AssemblyFile)));
    }

    /// <summary>A self-contained publish lists the frameworks it carries (<c>includedFrameworks</c>) in its runtimeconfig.</summary>
    private static bool IsSelfContained(string dir)
    {
        var config = Path.Combine(dir, "LazyActors.Host.runtimeconfig.json");
        if (!File.Exists(config))
        {
            return false;
        }

        using var document = JsonDocument.Parse(File.ReadAllText(config));
        return document.RootElement.TryGetProperty("runtimeOptions", out var options) && options.TryGetProperty("includedFrameworks", out _);
    }
}
