using System.Diagnostics;

namespace LazyActors.Testing;

/// <summary>
/// Runs a verb of one of our programs as users do (<c>dotnet LazyActors.Host.dll VERB ...</c> or
/// <c>dotnet LazyActors.Tools.dll VERB ...</c>), or any other program a test needs, in its own process, bounded in
/// time and reaped.
/// </summary>
public static class VerbProcess
{
    /// <summary>Runs <paramref name="prefix"/> (dotnet and the program's assembly) followed by <paramref name="args"/>.</summary>
    /// <exception cref="TimeoutException">The process did not finish in time; it was killed and reaped.</exception>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IReadOnlyList<string> prefix, TimeSpan timeout, params string[] args)
    {
        var info = new ProcessStartInfo(prefix[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in prefix.Skip(1).Concat(args))
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var limit = new CancellationTokenSource(timeout))
        {
            try
            {
                await process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                throw new TimeoutException($"{Path.GetFileName(prefix[^1])} {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:0} s");
            }
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
