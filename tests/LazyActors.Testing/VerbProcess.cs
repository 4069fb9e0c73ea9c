using System.Diagnostics;

namespace LazyActors.Testing;

/// <summary>
/// Runs a verb of one of our programs as users do (<c>dotnet LazyActors.Host.dll VERB ...</c> or
/// <c>dotnet LazyActors.Tools.dll VERB ...</c>), in its own process, bounded in time and reaped.
/// </summary>
public static class VerbProcess
{
    /// <summary>Runs <paramref name="prefix"/> (dotnet and the program's assembly) followed by <paramref name="args"/>.</summary>
    /// <exception cref="TimeoutException">The process did not finish in time; it was killed and reaped.</exception>
    public static (int ExitCode, string Stdout, string Stderr) Run(IReadOnlyList<string> prefix, TimeSpan timeout, params string[] args)
    {
        var info = new ProcessStartInfo(prefix[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in prefix.Skip(1).Concat(args))
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"{Path.GetFileName(prefix[^1])} {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:0} s");
        }

        process.WaitForExit(); // flush the redirected output
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
