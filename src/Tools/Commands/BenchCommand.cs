using System.CommandLine;
using System.Text.Json;
using LazyActors.Tools.Bench;
using LazyActors.Tools.Bench.Criu;
using LazyActors.Tools.Criu;

namespace LazyActors.Tools.Commands;

/// <summary>
/// <c>bench [--restorer sim|criu] [--scenario NAME|all|none] [--runs N] [--json FILE] [--daemon CMD]... [--keep-temp]</c>:
/// measures the physical limits (UFFDIO_COPY bandwidth, fault round trip) in this process, then runs the end-to-end
/// restore scenarios against lazy-pages daemons in fresh processes and prints one table (see docs/benchmarks.md):
/// with the restore simulator on synthetic checkpoints, or with real CRIU dumping and restoring real process trees.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var restorer = new Option<string>("--restorer")
        {
            Description = "What restores the checkpoints: sim (the restore simulator on synthetic checkpoints, default) or criu (real criu dump + criu restore --lazy-pages of real process trees; skipped with the reason where CRIU is absent).",
            DefaultValueFactory = _ => "sim",
        };
        restorer.AcceptOnlyFromAmong("sim", "criu");
        var scenario = new Option<string[]>("--scenario", "-s")
        {
            Description = $"Scenario(s) to run: all (default), none (probes only) or names; comma-separated or repeated. sim: {string.Join(", ", BenchScenarios.All.Select(s => s.Name))}. criu: smoke (the small ones) or {string.Join(", ", CriuBenchScenarios.All.Select(s => s.Name))}.",
            AllowMultipleArgumentsPerToken = true,
        };
        var runs = new Option<int>("--runs", "-n") { Description = "Runs per scenario; the table shows median (min-max).", DefaultValueFactory = _ => 1 };
        var json = new Option<string?>("--json") { Description = "Also write the full report as JSON to this file." };
        var daemon = new Option<string[]>("--daemon")
        {
            Description = "Daemon to test instead of this host's `lazy-pages`, e.g. \"criu lazy-pages\"; it is run as CMD -D IMAGES -W WORKDIR --status-fd N (criu: also -o LOG). Repeat it to compare daemons side by side in one table; `self` is this host's own engine as deployed (published once per bench with `dotnet publish src/Host -c Release`: the NativeAOT program), `self-il` the IL build next to these tools; `service` a job of one `serve` of the published host kept up for the whole bench (the RSS column is then the jobs client's, not the service's); with --restorer criu, `criu` is CRIU's own daemon and a -d word starts a daemon detached (-d --pidfile).",
        };
        var source = new Option<string[]>("--source")
        {
            Description = "--restorer criu, remote scenarios: page server(s) the daemons fetch from, paired with every --daemon: criu (criu page-server --lazy-pages), self (this host's page-server: the publish of --host-dir when given, else the IL build next to these tools) and/or self=DIR (the page-server of the host published in DIR, labelled lazyactors-ps@NAME-OF-DIR: two builds of our server side by side in one run); default criu and self.",
        };
        source.Validators.Add(result =>
        {
            foreach (var text in result.Tokens.Select(t => t.Value))
            {
                if (CriuSourceSpec.ParseProblem(text) is { } problem)
                {
                    result.AddError($"--source {text}: {problem}");
                }
            }
        });
        var criuPath = new Option<string?>("--criu") { Description = "The criu binary for --restorer criu (default: $LAZYACTORS_CRIU, else ../shared/tools/criu-4.2/criu next to the repository)." };
        var runBudget = new Option<double>("--run-budget")
        {
            Description = "--restorer criu: a daemon whose run of a scenario takes longer than this many seconds gets no more runs of that scenario (the table says so).",
            DefaultValueFactory = _ => 30,
        };
        var hostDir = new Option<string?>("--host-dir") { Description = "`self` (a daemon, and the page server of `--source self`) runs the host published in this directory (dotnet publish src/Host -c Release -o DIR) instead of publishing it now." };
        var keepTemp = new Option<bool>("--keep-temp") { Description = "Keep the temporary directory (checkpoints, daemon logs)." };
        var tempRoot = new Option<string?>("--temp-dir") { Description = "Where to create the temporary directory (default: the system temp dir)." };

        var command = new Command("bench", "Measure uffd limits and end-to-end lazy restores against a lazy-pages daemon; print one table.")
        {
            restorer, scenario, runs, json, daemon, source, criuPath, runBudget, hostDir, keepTemp, tempRoot,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            int runCount = parse.GetValue(runs);
            if (runCount < 1)
            {
                await Console.Error.WriteLineAsync("bench: --runs must be at least 1");
                return 2;
            }

            bool criu = parse.GetValue(restorer) == "criu";
            IReadOnlyList<BenchScenario> scenarios = [];
            IReadOnlyList<CriuBenchScenario> criuScenarios = [];
            var daemonCommands = new List<IReadOnlyList<string>?>();
            var daemonTexts = parse.GetValue(daemon) ?? [];
            try
            {
                if (criu)
                {
                    criuScenarios = CriuBenchScenarios.Select(parse.GetValue(scenario) ?? []);
                    foreach (var daemonText in daemonTexts)
                    {
                        _ = CommandTemplate.Split(daemonText);
                    }
                }
                else
                {
                    scenarios = BenchScenarios.Select(parse.GetValue(scenario) ?? []);
                    foreach (var daemonText in daemonTexts)
                    {
                        daemonCommands.Add(daemonText.Trim() switch
                        {
                            "self" => null,
                            ServiceDaemon => ServicePlaceholder,
                            CriuDaemonSpec.SelfIl => [.. Host.HostInvocation.Prefix(), "lazy-pages"],
                            _ => CommandTemplate.Split(daemonText),
                        });
                    }
                }
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException)
            {
                await Console.Error.WriteLineAsync($"bench: {ex.Message}");
                return 2;
            }

            double budget = parse.GetValue(runBudget);
            if (budget <= 0)
            {
                await Console.Error.WriteLineAsync("bench: --run-budget must be positive");
                return 2;
            }

            // `self` is the daemon as deployed: published once for this bench (the NativeAOT program), unless a directory is given.
            string? publishedDir = null;
            IReadOnlyList<string>? ownHost = null;
            // A directory given is our host as deployed for everything of ours in the bench, the page server of `--source
            // self` included (without it that source was the IL build next to these tools: JIT start-up and tiered
            // compilation on the source's CPU while it serves).
            if (daemonTexts.Length == 0 || parse.GetValue(hostDir) is not null || daemonTexts.Any(t => CriuDaemonSpec.NamesPublishedSelf(t) || (!criu && t.Trim() == ServiceDaemon)))
            {
                try
                {
                    if (parse.GetValue(hostDir) is { } given)
                    {
                        ownHost = PublishedHost.PrefixFor(given);
                    }
                    else
                    {
                        var project = PublishedHost.FindProject()
                            ?? throw new InvalidOperationException($"`self` is published from the repository, and no {PublishedHost.ProjectPath} was found above {AppContext.BaseDirectory}; give --host-dir DIR (a published host) or use --daemon self-il (the build next to these tools)");
                        publishedDir = Path.Combine(parse.GetValue(tempRoot) ?? Path.GetTempPath(), $"lazyactors-host-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
                        ownHost = PublishedHost.Publish(project, publishedDir, line => Console.Error.WriteLine($"bench: {line}"));
                    }
                }
                catch (Exception ex) when (ex is InvalidOperationException or IOException or System.ComponentModel.Win32Exception or System.Text.Json.JsonException)
                {
                    await Console.Error.WriteLineAsync($"bench: {ex.Message}");
                    return 2;
                }

                await Console.Error.WriteLineAsync($"bench: self = {CommandTemplate.Join([.. ownHost, "lazy-pages"])}");
            }

            // `service`: one `serve` of the published host for the whole bench; each run is a job of it, started by the
            // jobs client as the daemon (`jobs start --wait`: it exits 0 once the service reported the restore complete).
            ServiceUnderTest? service = null;
            if (daemonCommands.Any(c => ReferenceEquals(c, ServicePlaceholder)))
            {
                try
                {
                    service = await ServiceUnderTest.StartAsync(ownHost!, Path.Combine(parse.GetValue(tempRoot) ?? Path.GetTempPath(), $"lazyactors-serve-{Environment.ProcessId}"), TimeSpan.FromSeconds(60)).ConfigureAwait(false);
                }
                catch (InvalidOperationException ex)
                {
                    await Console.Error.WriteLineAsync($"bench: {ex.Message}");
                    return 2;
                }

                daemonCommands = [.. daemonCommands.Select(c => ReferenceEquals(c, ServicePlaceholder) ? service.JobsDaemon : c)];
                await Console.Error.WriteLineAsync($"bench: service = pid {service.Pid}, {CommandTemplate.Join(service.JobsDaemon)} (its log {service.LogPath})");
            }

            var options = new BenchOptions
            {
                OwnHostPrefix = ownHost,
                Restorer = criu ? BenchRestorer.Criu : BenchRestorer.Simulator,
                Scenarios = scenarios,
                CriuScenarios = criuScenarios,
                CriuDaemons = daemonTexts.Length > 0 ? daemonTexts : ["self"],
                CriuSources = parse.GetValue(source) is { Length: > 0 } sources ? [.. sources.Distinct()] : ["criu", "self"],
                CriuPath = parse.GetValue(criuPath),
                DaemonRunBudget = TimeSpan.FromSeconds(budget),
                Runs = runCount,
                DaemonCommands = daemonCommands,
                KeepTemp = parse.GetValue(keepTemp),
                TempRoot = parse.GetValue(tempRoot),
                Probes = new ProbeSettings { Repetitions = Math.Max(3, runCount), RoundTripPasses = Math.Max(3, runCount) },
                Progress = line => Console.Error.WriteLine($"bench: {line}"),
            };
            var runner = new BenchRunner(options);
            BenchReport report;
            try
            {
                report = criu ? await runner.RunCriuAsync(cancellationToken).ConfigureAwait(false) : runner.Run();
            }
            finally
            {
                if (service is not null)
                {
                    await Console.Error.WriteLineAsync($"bench: service stopped with exit code {await service.StopAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false)}");
                    await service.DisposeAsync().ConfigureAwait(false);
                }

                if (publishedDir is not null && !parse.GetValue(keepTemp))
                {
                    TryDelete(publishedDir);
                }
            }

            Console.Write(BenchTable.Render(report));
            if (parse.GetValue(json) is { } jsonPath)
            {
                await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(report, BenchJsonContext.Default.BenchReport), cancellationToken).ConfigureAwait(false);
            }

            return report.Ok ? 0 : 1;
        });
        return command;
    }

    /// <summary>The --daemon word for the hosted daemon (sim restorer).</summary>
    private const string ServiceDaemon = "service";

    private static readonly IReadOnlyList<string> ServicePlaceholder = ["service"];

    private static void TryDelete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"bench: could not delete {path}: {ex.Message}");
        }
    }
}
