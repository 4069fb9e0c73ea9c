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

    // MiB per task of the trees whose source dies: twice remote.prefetch-during-restore (16 MiB read while `criu
    // restore` runs), so half of every task is still on the source when it is killed, whatever was read before.
    private const int SourceLossMiB = 32;
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
        var harness = new CriuHarness(criu, SourceLoss.KillThenStartAgain(output, "page server", TimeSpan.FromSeconds(1), (s, r) => (source, restarted) = (s, r)));
        var checkpoint = await harness.DumpAsync(new TreeWorkload(Tasks, SourceLossMiB, WorkloadTouch.Rand, TreeShape.Binary), _dir.Path);
        var sourceSpec = ourServer ? CriuSourceSpec.Self() : CriuSourceSpec.Criu(criu);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, Daemon(giveUpAfter: "30s"), sourceSpec);

        output.WriteLine(result.Summary());
        Assert.NotNull(restarted);
        Assert.Null(await restarted.WaitAsync(SourceLoss.Bound)); // the second instance listened
        Assert.Equal(2, source!.Starts);
        Assert.True(result.Ok, string.Join("\n", result.Failures));
        Assert.Equal(checkpoint.Workload.TotalBytes, result.BytesVerified);
        Assert.Equal(0, result.RootExitCode);
        Assert.Equal(0, result.DaemonExitCode);
        var log = SourceLoss.Read(Path.Combine(result.WorkDirectory, "daemon.log"));
        Assert.Contains("connection lost", log, StringComparison.Ordinal);
        Assert.Contains("reconnected after", log, StringComparison.Ordinal);
        Assert.Matches(@"page server: \d+ GET\(s\), [1-9]\d* page\(s\), \d+ short reply\(ies\), [1-9]\d* reconnection\(s\)", log);
    }

    [SkippableFact]
    public async Task A_page_server_that_never_comes_back_gets_the_restored_tree_killed_and_the_daemon_exits_1_naming_what_was_missing()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, SourceLoss.KillForGood(output));
        var checkpoint = await harness.DumpAsync(new TreeWorkload(Tasks, SourceLossMiB, WorkloadTouch.Rand, TreeShape.Binary), _dir.Path);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, Daemon(giveUpAfter: "2s"), CriuSourceSpec.Self());

        await SourceLoss.AssertTreeStoppedNamingWhatWasMissingAsync(result, "lazy-pages: page server 127.0.0.1:", Tasks, output);
    }

    /// <summary>
    /// Our daemon, info-level logs, background transfer held back 2 s after "restore finished", so nothing is fetched
    /// before the source is killed and the tasks' faults are the first reads (a longer hold would keep the daemon from
    /// noticing the tasks' exit, which it learns from a copy refused with ESRCH, as CRIU's does).
    /// </summary>
    private CriuDaemonSpec Daemon(string giveUpAfter) =>
        CriuDaemonSpec.Self() with { ExtraArgs = ["-v", "3", "--config", SourceLoss.WriteRecoveryConfig(_dir.Path, "remote", giveUpAfter, "2s")] };
}
