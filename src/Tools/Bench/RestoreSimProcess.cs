using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LazyActors.Tools.Simulation;

namespace LazyActors.Tools.Bench;

/// <summary>
/// Runs <c>restore-sim --json</c> in a fresh process and parses its report. Bounded; kills and reaps on timeout. A
/// restorer of its own, as each <c>criu restore</c> is: the processes it starts are that restore's alone, so a daemon
/// or guardian that stops "what the restorer started" never reaches another restore's tasks.
/// </summary>
public static class RestoreSimProcess
{
    /// <summary>Returns the report, or null with <paramref name="error"/> set.</summary>
    public static SimReport? Run(string imagesDir, string workDir, TouchOrder touch, TimeSpan timeout, out string? error) =>
        Run(new RestoreSimOptions { ImagesDir = imagesDir, WorkDir = workDir, Touch = touch, Timeout = timeout }, out error);

    /// <summary>Runs the simulation <paramref name="options"/> describe (images, work dir, touch order, threads, seed,
    /// scenario, hold, timeout; not its hooks) in its own process; the report, or null with <paramref name="error"/> set.</summary>
    public static SimReport? Run(RestoreSimOptions options, out string? error)
    {
        ArgumentNullException.ThrowIfNull(options);
        var timeout = options.Timeout;
        var prefix = ToolsInvocation.Prefix();
        var info = new ProcessStartInfo(prefix[0]);
        foreach (var word in prefix.Skip(1))
        {
            info.ArgumentList.Add(word);
        }

        var inv = CultureInfo.InvariantCulture;
        foreach (var word in new[]
        {
            "restore-sim", "-D", options.ImagesDir, "-W", options.EffectiveWorkDir, "--touch", options.Touch.ToString().ToLowerInvariant(), "--json",
            "--timeout", ((int)Math.Ceiling(timeout.TotalSeconds)).ToString(inv), "--threads", options.Threads.ToString(inv),
            "--seed", options.Seed.ToString(inv), "--scenario", options.Scenario.ToString().ToLowerInvariant(),
            "--hold-before-touch", ((long)options.HoldBeforeTouch.TotalMilliseconds).ToString(inv),
        })
        {
            info.ArgumentList.Add(word);
        }

        if (!options.Verify)
        {
            info.ArgumentList.Add("--no-verify");
        }

        if (options.TouchGate is { } gate)
        {
            info.ArgumentList.Add("--touch-gate");
            info.ArgumentList.Add(gate);
        }

        // The simulator bounds its own waits by `timeout`; allow it time to kill and reap its tasks on top.
        var limit = timeout + options.HoldBeforeTouch + TimeSpan.FromSeconds(30);
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
