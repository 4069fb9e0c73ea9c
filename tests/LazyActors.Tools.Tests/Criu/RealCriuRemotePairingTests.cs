using LazyActors.Testing;
using LazyActors.Tools.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// Real <c>criu restore --lazy-pages</c> through a page server on loopback, in every pairing of daemon and source: our
/// daemon with <c>criu dump --lazy-pages</c> (a tree that is PID 1 of its own pid namespace, images copied to the
/// destination) and with <c>criu page-server --lazy-pages</c>; CRIU's daemon with our page server; our daemon with
/// our page server; the last two with mutual TLS. A single task and a tree of four (with grandchildren), every byte
/// verified by the restored tasks, every daemon and source exiting 0. Skipped with the reason where CRIU is absent.
/// </summary>
public sealed class RealCriuRemotePairingTests(ITestOutputHelper output) : IDisposable
{
    private readonly ScratchDirectory _dir = new("cpair");

    public void Dispose() => _dir.Dispose();

    public static TheoryData<int> Trees => new() { 1, 4 };

    [SkippableTheory]
    [MemberData(nameof(Trees))]
    public async Task Our_daemon_migrates_a_tree_from_criu_dump_lazy_pages(int tasks)
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output));
        var workload = Tree(tasks);

        var result = await harness.MigrateLazilyAsync(workload, OurDaemon(), _dir.Path);

        AssertEveryByteVerified(result, workload);
        Assert.Equal(CriuTransport.LazyDump, result.Transport);
        Assert.Contains("one shared connection", DaemonLog(result), StringComparison.Ordinal); // CRIU's source serves one connection
    }

    [SkippableTheory]
    [MemberData(nameof(Trees))]
    public async Task Our_daemon_restores_through_criu_page_server(int tasks)
    {
        var (harness, checkpoint) = await DumpAsync(tasks);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, OurDaemon());

        AssertEveryByteVerified(result, checkpoint.Workload);
        Assert.Equal("criu-ps", result.Source);
    }

    /// <summary>remote.direct-io (blocking recv(MSG_WAITALL) of the daemon's own) against CRIU's page server, which
    /// serves one connection and answers strictly in order, and against ours (a fault connection and bulk ones).</summary>
    [SkippableTheory]
    [InlineData(false, 1)]
    [InlineData(false, 4)]
    [InlineData(true, 4)]
    public async Task Our_daemon_with_direct_io_restores_through_a_page_server(bool ourSource, int tasks)
    {
        var (harness, checkpoint) = await DumpAsync(tasks);
        var config = Path.Combine(_dir.Path, "direct-io.conf");
        await File.WriteAllTextAsync(config, "lazy-actors.engine.remote.direct-io = on\n");
        var daemon = OurDaemon() with { ExtraArgs = [.. OurDaemon().ExtraArgs, "--config", config] };

        var result = ourSource
            ? await harness.RestoreThroughPageServerAsync(checkpoint, daemon, CriuSourceSpec.Self())
            : await harness.RestoreThroughPageServerAsync(checkpoint, daemon);

        AssertEveryByteVerified(result, checkpoint.Workload);
        Assert.Equal(ourSource ? "lazyactors-ps" : "criu-ps", result.Source);
        Assert.Contains("session closed (status 0)", DaemonLog(result), StringComparison.Ordinal);
        Assert.Contains("(direct I/O: blocking recv/send)", DaemonLog(result), StringComparison.Ordinal);
    }

    [SkippableTheory]
    [MemberData(nameof(Trees))]
    public async Task Criu_daemon_restores_through_our_page_server(int tasks)
    {
        var (harness, checkpoint) = await DumpAsync(tasks);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, CriuDaemonSpec.Criu(harness.Criu), CriuSourceSpec.Self());

        AssertEveryByteVerified(result, checkpoint.Workload);
        Assert.Contains("Closed", SourceLog(result), StringComparison.Ordinal); // CRIU's daemon ended its session with PS_IOV_CLOSE
    }

    [SkippableTheory]
    [MemberData(nameof(Trees))]
    public async Task Our_daemon_restores_through_our_page_server(int tasks)
    {
        var (harness, checkpoint) = await DumpAsync(tasks);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, OurDaemon(), CriuSourceSpec.Self());

        AssertEveryByteVerified(result, checkpoint.Workload);
        Assert.Contains("faults have a connection of their own", DaemonLog(result), StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData(false, 1)]
    [InlineData(false, 4)]
    [InlineData(true, 1)]
    [InlineData(true, 4)]
    public async Task With_mutual_tls_criu_daemon_and_ours_restore_through_our_page_server(bool ourDaemon, int tasks)
    {
        var (harness, checkpoint) = await DumpAsync(tasks);
        var pki = new TestPki(Path.Combine(_dir.Path, "pki"));
        var ca = pki.CreateAuthority("ca");
        var server = pki.Issue(ca, "server", "127.0.0.1", ["127.0.0.1"]);
        var client = pki.Issue(ca, "client", "127.0.0.1", ["127.0.0.1"]);
        string[] Tls(TestPki.Identity id) => ["--tls", "--tls-cacert", ca.CertificatePath, "--tls-cert", id.CertificatePath, "--tls-key", id.KeyPath];
        var daemon = ourDaemon ? OurDaemon() with { ExtraArgs = [.. OurDaemon().ExtraArgs, .. Tls(client)] } : CriuDaemonSpec.Criu(harness.Criu) with { ExtraArgs = Tls(client) };
        var source = CriuSourceSpec.Self() with { ExtraArgs = [.. CriuSourceSpec.Self().ExtraArgs, .. Tls(server)] };

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, daemon, source);

        AssertEveryByteVerified(result, checkpoint.Workload);
        Assert.Contains("TLS session with", SourceLog(result), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Our_daemon_fetches_remotely_even_with_a_normal_dump_at_the_destination()
    {
        var (harness, checkpoint) = await DumpAsync(2);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, OurDaemon(), CriuSourceSpec.Self(), fullImagesAtDestination: true);

        AssertEveryByteVerified(result, checkpoint.Workload);
        Assert.Matches(@"Session with .* over \(""Closed""\): \d+ request\(s\), [1-9]\d* page\(s\) sent", SourceLog(result));
    }

    private static TreeWorkload Tree(int tasks) =>
        tasks == 1 ? new TreeWorkload(1, 16, WorkloadTouch.Rand) : new TreeWorkload(tasks, 8, WorkloadTouch.Rand, TreeShape.Binary);

    private async Task<(CriuHarness Harness, CriuCheckpoint Checkpoint)> DumpAsync(int tasks)
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output));
        return (harness, await harness.DumpAsync(Tree(tasks), _dir.Path));
    }

    private void AssertEveryByteVerified(CriuRestoreResult result, CriuWorkload workload)
    {
        output.WriteLine(result.Summary());
        Assert.True(result.Ok, string.Join("\n", result.Failures));
        Assert.Equal(workload.TotalBytes, result.BytesVerified);
        Assert.Equal(0, result.RootExitCode);
        Assert.Equal(0, result.DaemonExitCode);
    }

    /// <summary>Our daemon with info-level logs (the connection choice is logged at that level).</summary>
    private static CriuDaemonSpec OurDaemon() => CriuDaemonSpec.Self() with { ExtraArgs = ["-v", "3"] };

    private static string DaemonLog(CriuRestoreResult result) => Read(Path.Combine(result.WorkDirectory, "daemon.log"));

    private static string SourceLog(CriuRestoreResult result) => Read(Path.Combine(result.WorkDirectory, "page-server.log"));

    private static string Read(string path) => File.Exists(path) ? File.ReadAllText(path) : $"({path} absent)";
}
