using System.Globalization;
using System.Text.RegularExpressions;
using LazyActors.Testing;
using LazyActors.Tools.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// Recovery end to end with real CRIU: a tree of four dumped by <c>criu dump</c>, restored by real <c>criu restore
/// --lazy-pages</c> with our daemon fetching every lazy page from a page server on loopback. The page server is
/// SIGKILLed once the tree is restored and before any of its lazy pages was served (background transfer held back
/// 2 s by the daemon's config, the tasks triggered right after the kill): started again a second later on the same port, the
/// restore completes with every byte verified by the tasks; never started again, the daemon stops the restored tree
/// (SIGKILL, the tasks resolved by pid) and exits 1 naming the source, the processes and the ranges it could not serve.
/// Skipped with the reason where CRIU is absent.
/// </summary>
public sealed class RealCriuRemoteRecoveryTests(ITestOutputHelper output) : IDisposable
{
    private const int Tasks = 4;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly ScratchDirectory _dir = new("crec");

    public void Dispose() => _dir.Dispose();

    public static TheoryData<bool> Sources => new() { true, false };

    [SkippableTheory]
    [MemberData(nameof(Sources))]
    public async Task The_page_server_killed_and_started_again_mid_restore_and_every_byte_arrives(bool ourServer)
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
                output.WriteLine($"killed the page server on port {source.Endpoint.Port}; the tree is triggered now and faults on pages nobody serves");
                restarted = StartAgainLaterAsync(source, TimeSpan.FromSeconds(1));
            },
        });
        var checkpoint = await harness.DumpAsync(new TreeWorkload(Tasks, 8, WorkloadTouch.Rand, TreeShape.Binary), _dir.Path);
        var sourceSpec = ourServer ? CriuSourceSpec.Self() : CriuSourceSpec.Criu(criu);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, Daemon(giveUpAfter: "30s"), sourceSpec);

        output.WriteLine(result.Summary());
        Assert.NotNull(restarted);
        Assert.Null(await restarted.WaitAsync(Bound)); // the second instance listened
        Assert.Equal(2, source!.Starts);
        Assert.True(result.Ok, string.Join("\n", result.Failures));
        Assert.Equal(checkpoint.Workload.TotalBytes, result.BytesVerified);
        Assert.Equal(0, result.RootExitCode);
        Assert.Equal(0, result.DaemonExitCode);
        var log = Read(Path.Combine(result.WorkDirectory, "daemon.log"));
        Assert.Contains("connection lost", log, StringComparison.Ordinal);
        Assert.Contains("reconnected after", log, StringComparison.Ordinal);
        Assert.Matches(@"page server: \d+ GET\(s\), [1-9]\d* page\(s\), \d+ short reply\(ies\), [1-9]\d* reconnection\(s\)", log);
    }

    [SkippableFact]
    public async Task A_page_server_that_never_comes_back_gets_the_restored_tree_killed_and_the_daemon_exits_1_naming_what_was_missing()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output) with
        {
            BeforeTrigger = async tree => await (tree.Source ?? throw new InvalidOperationException("no page server in a restore through one")).KillAsync(Bound),
        });
        var checkpoint = await harness.DumpAsync(new TreeWorkload(Tasks, 8, WorkloadTouch.Rand, TreeShape.Binary), _dir.Path);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, Daemon(giveUpAfter: "2s"), CriuSourceSpec.Self());

        output.WriteLine(result.Summary());
        var stderr = Read(Path.Combine(result.WorkDirectory, "daemon.out"));
        output.WriteLine(stderr);
        Assert.Equal(1, result.DaemonExitCode);
        var error = Assert.Single(stderr.Split('\n'), line => line.StartsWith("lazy-pages: page server 127.0.0.1:", StringComparison.Ordinal));
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

    /// <summary>
    /// Our daemon, info-level logs, background transfer held back 2 s after "restore finished", so nothing is fetched
    /// before the source is killed and the tasks' faults are the first reads (a longer hold would keep the daemon from
    /// noticing the tasks' exit, which it learns from a copy refused with ESRCH, as CRIU's does).
    /// </summary>
    private CriuDaemonSpec Daemon(string giveUpAfter)
    {
        var config = Path.Combine(_dir.Path, $"remote-{giveUpAfter}.hocon");
        File.WriteAllText(config, $$"""
            lazy-actors.engine {
              background-push-delay = 2s
              remote {
                reply-timeout = 2s
                connect-timeout = 1s
                reconnect-backoff-min = 20ms
                reconnect-backoff-max = 200ms
                give-up-after = {{giveUpAfter}}
              }
            }
            """);
        return CriuDaemonSpec.Self() with { ExtraArgs = ["-v", "3", "--config", config] };
    }

    private async Task<string?> StartAgainLaterAsync(RunningPageServer source, TimeSpan after)
    {
        await Task.Delay(after);
        var problem = await source.StartAgainAsync(Bound);
        output.WriteLine(problem ?? $"the page server listens again on port {source.Endpoint.Port}");
        return problem;
    }

    private static string Read(string path) => File.Exists(path) ? File.ReadAllText(path) : $"({path} absent)";
}
