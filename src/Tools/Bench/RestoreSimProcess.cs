using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LazyActors.Tools.Simulation;

namespace LazyActors.Tools.Bench;

/// <summary>Runs <c>restore-sim --json</c> in a fresh process and parses its report. Bounded; kills and reaps on timeout.</summary>
internal static class RestoreSimProcess
{
    /// <summary>Returns the report, or null with <paramref name="error"/> set.</summary>
    public static SimReport? Run(string imagesDir, string workDir, TouchOrder touch, TimeSpan timeout, out string? error)
    {
        var prefix = ToolsInvocation.Prefix();
        var info = new ProcessStartInfo(prefix[0]);
        foreach (var word in prefix.Skip(1))
        {
            info.ArgumentList.Add(word);
        }

        foreach (var word in new[] { "restore-sim", "-D", imagesDir, "-W", workDir, "--touch", touch.ToString().ToLowerInvariant(), "--json", "--timeout", ((int)Math.Ceiling(timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(word);
        }

        // The simulator bounds its own waits by `timeout`; allow it time to kill and reap its tasks on top.
        var limit = timeout + TimeSpan.FromSeconds(30);
        var outcome = ChildProcess.Run(info, limit);
        if (outcome.TimedOut)
        {
            error = $"restore-sim did not finish within {limit.TotalSeconds:0} s and was killed";
            return null;
        }

        var output = outcome.Stdout;
        var jsonLine = output.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{'));
        if (jsonLine is null)
        {
            error = $"restore-sim exited with code {outcome.ExitCode} without a JSON report: {Tail(outcome.Stderr)}";
            return null;
        }

        try
        {
            error = null;
            return JsonSerializer.Deserialize(jsonLine, SimJsonContext.Default.SimReport);
        }
        catch (JsonException ex)
        {
            error = $"restore-sim printed an unreadable report: {ex.Message}";
            return null;
        }
    }

    private static string Tail(string text) => text.Length <= 1500 ? text.Trim() : "..." + text[^1500..].Trim();
}
