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

    // MiB per task of the trees whose source dies: twice remote.prefetch-during-restore (16 MiB read while `criu
    // restore` runs), so half of every task is still on the source when it is killed, whatever was read before.
    private const int SourceLossMiB = 32;
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
        var log = SourceLoss.Read(Path.Combine(result.WorkDirectory, "daemon.log"));
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
        var harness = new CriuHarness(criu, SourceLoss.KillThenStartAgain(output, "akka page source", TimeSpan.FromSeconds(1), (s, r) => (source, restarted) = (s, r)));
        var checkpoint = await harness.DumpAsync(new TreeWorkload(Tasks, SourceLossMiB, WorkloadTouch.Rand, TreeShape.Binary), _dir.Path);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, Daemon(giveUpAfter: "30s", pushDelay: "2s"), AkkaSource());

        output.WriteLine(result.Summary());
        output.WriteLine(SourceLoss.Read(Path.Combine(result.WorkDirectory, "daemon.log")));
        Assert.NotNull(restarted);
        Assert.Null(await restarted.WaitAsync(SourceLoss.Bound));
        Assert.Equal(2, source!.Starts);
        Assert.True(result.Ok, string.Join("\n", result.Failures));
        Assert.Equal(checkpoint.Workload.TotalBytes, result.BytesVerified);
        Assert.Equal(0, result.RootExitCode);
        Assert.Equal(0, result.DaemonExitCode);
        var log = SourceLoss.Read(Path.Combine(result.WorkDirectory, "daemon.log"));
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
        var harness = new CriuHarness(criu, SourceLoss.KillForGood(output));
        var checkpoint = await harness.DumpAsync(new TreeWorkload(Tasks, SourceLossMiB, WorkloadTouch.Rand, TreeShape.Binary), _dir.Path);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, Daemon(giveUpAfter: "2s", pushDelay: "2s"), AkkaSource());

        await SourceLoss.AssertTreeStoppedNamingWhatWasMissingAsync(result, "lazy-pages: page server akka.tcp://lazy-source@127.0.0.1:", Tasks, output);
    }

    private static CriuSourceSpec AkkaSource() =>
        CriuSourceSpec.Self() with { Label = "lazyactors-akka-ps", ExtraArgs = ["-v", "3", "--transport", "akka"] };

    /// <summary>Our daemon over the Akka transport, info-level logs, short recovery deadlines.</summary>
    private CriuDaemonSpec Daemon(string giveUpAfter, string pushDelay) =>
        CriuDaemonSpec.Self() with
        {
            Label = "lazyactors-akka",
            ExtraArgs = ["-v", "3", "--config", SourceLoss.WriteRecoveryConfig(_dir.Path, "akka", giveUpAfter, pushDelay), "--transport", "akka"],
        };
}
