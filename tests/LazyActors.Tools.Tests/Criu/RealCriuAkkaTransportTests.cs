using System.Globalization;
using System.Text.RegularExpressions;
using LazyActors.Testing;
using LazyActors.Tools.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// The Akka transport with real CRIU: a tree of four dumped by <c>criu dump</c>, restored by real <c>criu restore
/// --lazy-pages</c> with our daemon (<c>lazy-pages --page-server --transport akka</c>) asking our
/// <c>page-server --transport akka</c> on loopback for the checkpoint's metadata and every lazy page; the tasks verify
/// every byte. Then the source SIGKILLed before any lazy page was served and started again a second later: the daemon's
/// failure detection and reconnection carry the restore to the end; or never started again: the daemon stops the
/// restored tree and exits 1 naming the tasks and ranges it could not serve. Skipped with the reason where CRIU is absent.
/// </summary>
public sealed class RealCriuAkkaTransportTests(ITestOutputHelper output) : IDisposable
{
    private const int Tasks = 4;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly ScratchDirectory _dir = new("cakka");

    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public async Task A_tree_of_four_is_restored_by_real_criu_over_the_akka_transport_and_every_byte_is_right()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output));
        var checkpoint = await harness.DumpAsync(new TreeWorkload(Tasks, 8, WorkloadTouch.Rand, TreeShape.Binary), _dir.Path);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, Daemon(giveUpAfter: "30s", pushDelay: "0s"), AkkaSource());

        output.WriteLine(result.Summary());
        Assert.True(result.Ok, string.Join("\n", result.Failures));
        Assert.Equal(checkpoint.Workload.TotalBytes, result.BytesVerified);
        Assert.Equal(0, result.RootExitCode);
        Assert.Equal(0, result.DaemonExitCode);
        var log = Read(Path.Combine(result.WorkDirectory, "daemon.log"));
        Assert.Contains("(Akka transport)", log, StringComparison.Ordinal);
        Assert.Contains("connected over Akka.Remote", log, StringComparison.Ordinal);
        Assert.Matches(@"page server: [1-9]\d* GET\(s\), [1-9]\d* page\(s\)", log);
    }

    [SkippableFact]
    public async Task The_akka_source_killed_and_started_again_mid_restore_and_every_byte_arrives()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        RunningPageServer? source = null;
        Task<string?>? restarted = null;
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output) with
        {
            BeforeTrigger = async tree =>
            {
                source = tree.Source ?? throw new InvalidOperationException("no page server in a restore through one");
                await source.KillAsync(Bound);
                output.WriteLine($"killed the akka page source on port {source.Endpoint.Port}; the tree is triggered now and faults on pages nobody serves");
                restarted = StartAgainLaterAsync(source, TimeSpan.FromSeconds(1));
            },
        });
        var checkpoint = await harness.DumpAsync(new TreeWorkload(Tasks, 8, WorkloadTouch.Rand, TreeShape.Binary), _dir.Path);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, Daemon(giveUpAfter: "30s", pushDelay: "2s"), AkkaSource());

        output.WriteLine(result.Summary());
        output.WriteLine(Read(Path.Combine(result.WorkDirectory, "daemon.log")));
        Assert.NotNull(restarted);
        Assert.Null(await restarted.WaitAsync(Bound));
        Assert.Equal(2, source!.Starts);
        Assert.True(result.Ok, string.Join("\n", result.Failures));
        Assert.Equal(checkpoint.Workload.TotalBytes, result.BytesVerified);
        Assert.Equal(0, result.RootExitCode);
        Assert.Equal(0, result.DaemonExitCode);
        var log = Read(Path.Combine(result.WorkDirectory, "daemon.log"));
        // A killed source is seen either as its actor stopped (the association closed) or by the failure detector / a
        // reply timeout, whichever comes first on the machine.
        Assert.Matches("lost: (the source actor stopped|the source stopped answering|no reply for)", log);
        Assert.Contains("reconnected after", log, StringComparison.Ordinal);
        Assert.Matches(@"page server: \d+ GET\(s\), [1-9]\d* page\(s\), \d+ short reply\(ies\), [1-9]\d* reconnection\(s\)", log);
    }

    [SkippableFact]
    public async Task An_akka_source_that_never_comes_back_gets_the_restored_tree_killed_and_the_daemon_exits_1_naming_what_was_missing()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output) with
        {
            BeforeTrigger = async tree => await (tree.Source ?? throw new InvalidOperationException("no page server in a restore through one")).KillAsync(Bound),
        });
        var checkpoint = await harness.DumpAsync(new TreeWorkload(Tasks, 8, WorkloadTouch.Rand, TreeShape.Binary), _dir.Path);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, Daemon(giveUpAfter: "2s", pushDelay: "2s"), AkkaSource());

        output.WriteLine(result.Summary());
        var stderr = Read(Path.Combine(result.WorkDirectory, "daemon.out"));
        output.WriteLine(stderr);
        output.WriteLine(Read(Path.Combine(result.WorkDirectory, "daemon.log")));
        Assert.Equal(1, result.DaemonExitCode);
        var error = Assert.Single(stderr.Split('\n'), line => line.StartsWith("lazy-pages: page server akka.tcp://lazy-source@127.0.0.1:", StringComparison.Ordinal));
        Assert.Contains(" given up after ", error, StringComparison.Ordinal);
        var stopped = Regex.Match(error, @"SIGKILL to (\d+) process\(es\) of the restored tree: ([\d, ]+);");
        Assert.True(stopped.Success, error);
        Assert.Equal(Tasks, int.Parse(stopped.Groups[1].Value, CultureInfo.InvariantCulture));
        var rootPid = int.Parse((await File.ReadAllTextAsync(Path.Combine(result.WorkDirectory, "restore.pid"))).Trim(), CultureInfo.InvariantCulture);
        Assert.Contains(rootPid, stopped.Groups[2].Value.Split(", ").Select(p => int.Parse(p, CultureInfo.InvariantCulture)));
        Assert.DoesNotContain("not every task's pid was found", error, StringComparison.Ordinal); // real CRIU: every task resolved
        Assert.Matches(@"not served: task \d+ \(host pid \d+\): \d+ page\(s\) in \d+ range\(s\): 0x[0-9a-f]+-0x[0-9a-f]+", error);
        Assert.Null(result.RootExitCode); // killed, not exited
        Assert.Contains(result.Failures, f => f.Contains($"pid {rootPid.ToString(CultureInfo.InvariantCulture)} killed by signal 9", StringComparison.Ordinal));
        Assert.DoesNotContain(result.Failures, f => f.Contains("wrong bytes", StringComparison.Ordinal)); // stopped, never handed zeros
        Assert.Equal(0, result.BytesVerified);
    }

    private static CriuSourceSpec AkkaSource() =>
        CriuSourceSpec.Self() with { Label = "lazyactors-akka-ps", ExtraArgs = ["-v", "3", "--transport", "akka"] };

    /// <summary>Our daemon over the Akka transport, info-level logs, short recovery deadlines.</summary>
    private CriuDaemonSpec Daemon(string giveUpAfter, string pushDelay)
    {
        var config = Path.Combine(_dir.Path, $"akka-{giveUpAfter}-{pushDelay}.hocon");
        File.WriteAllText(config, $$"""
            lazy-actors.engine {
              background-push-delay = {{pushDelay}}
              remote {
                reply-timeout = 2s
                connect-timeout = 1s
                reconnect-backoff-min = 20ms
                reconnect-backoff-max = 200ms
                give-up-after = {{giveUpAfter}}
              }
            }
            """);
        return CriuDaemonSpec.Self() with { Label = "lazyactors-akka", ExtraArgs = ["-v", "3", "--config", config, "--transport", "akka"] };
    }

    private async Task<string?> StartAgainLaterAsync(RunningPageServer source, TimeSpan after)
    {
        await Task.Delay(after);
        var problem = await source.StartAgainAsync(Bound);
        output.WriteLine(problem ?? $"the akka page source listens again on port {source.Endpoint.Port}");
        return problem;
    }

    private static string Read(string path) => File.Exists(path) ? File.ReadAllText(path) : $"({path} absent)";
}
