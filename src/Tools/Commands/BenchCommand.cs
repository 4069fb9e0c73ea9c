using System.CommandLine;
using System.Text.Json;
using LazyActors.Tools.Bench;

namespace LazyActors.Tools.Commands;

/// <summary>
/// <c>bench [--scenario NAME|all|none] [--runs N] [--json FILE] [--daemon CMD] [--keep-temp]</c>: measures the
/// physical limits (UFFDIO_COPY bandwidth, fault round trip) in this process, then runs the end-to-end restore
/// scenarios against a lazy-pages daemon in fresh processes and prints one table (see docs/benchmarks.md).
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var scenario = new Option<string[]>("--scenario", "-s")
        {
            Description = $"Scenario(s) to run: all (default), none (probes only) or any of {string.Join(", ", BenchScenarios.All.Select(s => s.Name))}; comma-separated or repeated.",
            AllowMultipleArgumentsPerToken = true,
        };
        var runs = new Option<int>("--runs", "-n") { Description = "Runs per scenario; the table shows median (min-max).", DefaultValueFactory = _ => 1 };
        var json = new Option<string?>("--json") { Description = "Also write the full report as JSON to this file." };
        var daemon = new Option<string[]>("--daemon")
        {
            Description = "Daemon command to test instead of this host's `lazy-pages`, e.g. \"criu lazy-pages\"; it is run as CMD -D IMAGES -W WORKDIR --status-fd N. Repeat it to compare daemons side by side in one table; `self` is this host's own engine.",
        };
        var keepTemp = new Option<bool>("--keep-temp") { Description = "Keep the temporary directory (checkpoints, daemon logs)." };
        var tempRoot = new Option<string?>("--temp-dir") { Description = "Where to create the temporary directory (default: the system temp dir)." };

        var command = new Command("bench", "Measure uffd limits and end-to-end lazy restores against a lazy-pages daemon; print one table.")
        {
            scenario, runs, json, daemon, keepTemp, tempRoot,
        };
        command.SetAction(parse =>
        {
            int runCount = parse.GetValue(runs);
            if (runCount < 1)
            {
                Console.Error.WriteLine("bench: --runs must be at least 1");
                return 2;
            }

            IReadOnlyList<BenchScenario> scenarios;
            var daemonCommands = new List<IReadOnlyList<string>?>();
            try
            {
                scenarios = BenchScenarios.Select(parse.GetValue(scenario) ?? []);
                foreach (var daemonText in parse.GetValue(daemon) ?? [])
                {
                    daemonCommands.Add(daemonText.Trim() == "self" ? null : CommandTemplate.Split(daemonText));
                }
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException)
            {
                Console.Error.WriteLine($"bench: {ex.Message}");
                return 2;
            }

            var options = new BenchOptions
            {
                Scenarios = scenarios,
                Runs = runCount,
                DaemonCommands = daemonCommands,
                KeepTemp = parse.GetValue(keepTemp),
                TempRoot = parse.GetValue(tempRoot),
                Probes = new ProbeSettings { Repetitions = Math.Max(3, runCount), RoundTripPasses = Math.Max(3, runCount) },
                Progress = line => Console.Error.WriteLine($"bench: {line}"),
            };
            var report = new BenchRunner(options).Run();
            Console.Write(BenchTable.Render(report));
            if (parse.GetValue(json) is { } jsonPath)
            {
                File.WriteAllText(jsonPath, JsonSerializer.Serialize(report, BenchJsonContext.Default.BenchReport));
            }

            return report.Ok ? 0 : 1;
        });
        return command;
    }
}
