using System.Diagnostics;
using System.Reflection;
using System.Security.Cryptography;

namespace LazyActors.Host.Simulation;

/// <summary>
/// Builds the C helper for the fork scenario (.NET cannot fork a running runtime safely) with the machine's
/// <c>cc</c>, once per source version, into a cache directory.
/// </summary>
public static class ForkHelper
{
    private const string ResourceName = "LazyActors.Host.Simulation.Native.fork_task.c";

    /// <summary>Null when a C compiler is available, otherwise the reason the fork scenario cannot run.</summary>
    public static string? UnavailableReason()
    {
        return FindCompiler() is null ? "the fork scenario needs a C compiler: neither cc nor gcc is on PATH" : null;
    }

    public static string EnsureBuilt()
    {
        var compiler = FindCompiler() ?? throw new InvalidOperationException(UnavailableReason());
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing");
        using var reader = new StreamReader(stream);
        var source = reader.ReadToEnd();
        var hash = Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(source)))[..16].ToLowerInvariant();
        var dir = Path.Combine(Path.GetTempPath(), "lazyactors-helpers");
        Directory.CreateDirectory(dir);
        var binary = Path.Combine(dir, $"fork_task-{hash}");
        if (File.Exists(binary))
        {
            return binary;
        }

        var sourcePath = Path.Combine(dir, $"fork_task-{hash}.c");
        File.WriteAllText(sourcePath, source);
        var temp = binary + "." + Environment.ProcessId + ".tmp";
        var info = new ProcessStartInfo(compiler) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { "-O2", "-Wall", "-o", temp, sourcePath })
        {
            info.ArgumentList.Add(arg);
        }

        using var cc = Process.Start(info) ?? throw new InvalidOperationException($"could not start {compiler}");
        var stderr = cc.StandardError.ReadToEndAsync();
        if (!cc.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            cc.Kill(entireProcessTree: true);
            cc.WaitForExit();
            throw new TimeoutException($"{compiler} did not finish compiling {sourcePath} within 60 s");
        }

        if (cc.ExitCode != 0)
        {
            throw new InvalidOperationException($"{compiler} failed to compile {sourcePath}: {stderr.Result}");
        }

        File.Move(temp, binary, overwrite: true);
        return binary;
    }

    private static string? FindCompiler()
    {
        foreach (var name in new[] { "cc", "gcc" })
        {
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            {
                var candidate = Path.Combine(dir, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }
}
