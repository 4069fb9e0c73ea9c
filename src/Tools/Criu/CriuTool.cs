using System.Collections.Concurrent;
using System.Diagnostics;

namespace LazyActors.Tools.Criu;

/// <summary>
/// A CRIU binary that runs on this machine: found (<see cref="LocateAsync"/>) and checked with <c>criu check</c> and
/// <c>criu check --feature uffd-noncoop</c> (lazy restore needs non-cooperative userfaultfd).
/// </summary>
/// <param name="Path">Absolute path of the <c>criu</c> executable.</param>
/// <param name="Version">What <c>criu --version</c> printed (first line).</param>
public sealed record CriuTool(string Path, string Version)
{
    /// <summary>The environment variable naming the CRIU binary to use.</summary>
    public const string EnvironmentVariable = "LAZYACTORS_CRIU";

    /// <summary>Where the shared CRIU 4.2 lives relative to the repository root.</summary>
    public static readonly string SharedRelativeDirectory = System.IO.Path.Combine("..", "shared", "tools", "criu-4.2");

    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(30);
    private static readonly ConcurrentDictionary<string, Lazy<Task<CriuAvailability>>> Checked = new(StringComparer.Ordinal);

    /// <summary>
    /// Finds CRIU and checks that it runs: <paramref name="explicitPath"/> if given, else <c>$LAZYACTORS_CRIU</c>, else
    /// <c>../shared/tools/criu-4.2/criu</c> next to the repository (found upwards from this assembly and from the
    /// current directory; its <c>setup</c> script must be there too, as the tests expect). The check runs once per
    /// path and process. The result carries a skip reason when CRIU cannot be used.
    /// </summary>
    public static Task<CriuAvailability> LocateAsync(string? explicitPath = null)
    {
        string? candidate = explicitPath ?? Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrEmpty(candidate))
        {
            var shared = SharedDirectory();
            if (shared is null)
            {
                return Task.FromResult(CriuAvailability.Missing(
                    $"real CRIU 4.2 not available: {System.IO.Path.Combine(SharedRelativeDirectory, "setup")} is absent next to the repository (set {EnvironmentVariable} or pass --criu to use another criu)"));
            }

            candidate = System.IO.Path.Combine(shared, "criu");
        }

        var path = System.IO.Path.GetFullPath(candidate);
        // One check per path and process: the lazy only creates the task (it never blocks on its result), so the
        // deadlock VSTHRD011 warns of (a Lazy whose factory waits on the same lazy) cannot happen here.
#pragma warning disable VSTHRD011
        return Checked.GetOrAdd(path, p => new Lazy<Task<CriuAvailability>>(() => CheckAsync(p))).Value;
#pragma warning restore VSTHRD011
    }

    /// <summary>The shared CRIU directory (holding <c>criu</c> and <c>setup</c>) next to the repository, or null.</summary>
    public static string? SharedDirectory()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(System.IO.Path.Combine(dir.FullName, "LazyActors.sln")))
                {
                    var tools = System.IO.Path.GetFullPath(System.IO.Path.Combine(dir.FullName, SharedRelativeDirectory));
                    if (File.Exists(System.IO.Path.Combine(tools, "setup")))
                    {
                        return tools;
                    }

                    break;
                }
            }
        }

        return null;
    }

    private static async Task<CriuAvailability> CheckAsync(string path)
    {
        if (!File.Exists(path))
        {
            return CriuAvailability.Missing($"CRIU not available: {path} does not exist");
        }

        if (CriuNative.GetEuid() != 0)
        {
            return CriuAvailability.Missing($"CRIU not usable: dump and restore need root (this process runs as uid {CriuNative.GetEuid()})");
        }

        var version = await RunAsync(path, ["--version"]).ConfigureAwait(false);
        if (version.Problem is not null)
        {
            return CriuAvailability.Missing($"CRIU not runnable: `{path} --version` {version.Problem}");
        }

        var check = await RunAsync(path, ["check"]).ConfigureAwait(false);
        if (check.Problem is not null)
        {
            return CriuAvailability.Missing($"CRIU not usable here: `{path} check` {check.Problem}");
        }

        var uffd = await RunAsync(path, ["check", "--feature", "uffd-noncoop"]).ConfigureAwait(false);
        if (uffd.Problem is not null)
        {
            return CriuAvailability.Missing($"CRIU cannot restore lazily here: `{path} check --feature uffd-noncoop` {uffd.Problem}");
        }

        var firstLine = version.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        return new CriuAvailability(new CriuTool(path, firstLine), null);
    }

    private static async Task<(string Output, string? Problem)> RunAsync(string path, IReadOnlyList<string> args)
    {
        var info = new ProcessStartInfo(path)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException("Process.Start returned null");
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return ("", $"could not be started: {ex.Message}");
        }

        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var bound = new CancellationTokenSource(CheckTimeout);
            try
            {
                await process.WaitForExitAsync(bound.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                return ("", $"did not finish within {CheckTimeout.TotalSeconds:0} s (killed)");
            }

            var output = (await stdout.ConfigureAwait(false)) + (await stderr.ConfigureAwait(false));
            return process.ExitCode == 0 ? (output, null) : (output, $"exited {process.ExitCode}: {Tail(output, 600)}");
        }
    }

    /// <summary>The last <paramref name="maxChars"/> characters of <paramref name="text"/>, trimmed.</summary>
    internal static string Tail(string text, int maxChars) =>
        text.Length <= maxChars ? text.Trim() : "..." + text[^maxChars..].Trim();
}
