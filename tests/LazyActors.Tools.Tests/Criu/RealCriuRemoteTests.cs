using LazyActors.Testing;
using LazyActors.Tools.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// The harness's remote restores with real CRIU 4.2 on loopback, CRIU's own daemon at the destination (ours gets
/// the same runs once it offers --page-server): a lazy dump of a tree that is PID 1 of its own pid namespace (the
/// source side: frozen tree, images signalled on --status-fd, copied to the destination), and a normal dump served by
/// <c>criu page-server --lazy-pages</c>. Skipped with the reason where CRIU is absent.
/// </summary>
public sealed class RealCriuRemoteTests(ITestOutputHelper output) : IDisposable
{
    private readonly ScratchDirectory _dir = new("crem");

    public void Dispose() => _dir.Dispose();

    private static void AssertEveryByteVerified(CriuRestoreResult result, CriuWorkload workload)
    {
        Assert.True(result.Ok, string.Join("\n", result.Failures));
        Assert.Equal(workload.TotalBytes, result.BytesVerified);
        Assert.Equal(0, result.RootExitCode);
        Assert.Equal(0, result.DaemonExitCode);
    }

    [SkippableFact]
    public async Task A_lazy_dump_from_a_pid_namespace_is_migrated_and_verified()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output));
        var workload = new TreeWorkload(3, 8, WorkloadTouch.Rand, TreeShape.Binary);

        var result = await harness.MigrateLazilyAsync(workload, CriuDaemonSpec.Criu(criu), _dir.Path);
        output.WriteLine(result.Summary());

        AssertEveryByteVerified(result, workload);
        Assert.Equal(CriuTransport.LazyDump, result.Transport);
        Assert.True(File.Exists(Path.Combine(_dir.Path, "img", "pstree.img")));
        Assert.Equal("1", (await File.ReadAllTextAsync(Path.Combine(_dir.Path, "wl", "ready-0"))).Split(' ').Single(w => w.StartsWith("pid=", StringComparison.Ordinal))[4..]);
    }

    [SkippableFact]
    public async Task A_normal_dump_is_restored_through_criu_page_server()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output));
        var checkpoint = await harness.DumpAsync(new TreeWorkload(2, 8, WorkloadTouch.Seq), _dir.Path);

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, CriuDaemonSpec.Criu(criu));
        output.WriteLine(result.Summary());

        AssertEveryByteVerified(result, checkpoint.Workload);
        static long PagesBytes(string dir) => Directory.EnumerateFiles(dir, "pages-*.img").Sum(f => new FileInfo(f).Length);
        Assert.True(PagesBytes(Path.Combine(_dir.Path, "img")) - PagesBytes(Path.Combine(_dir.Path, "img-eager")) >= checkpoint.Workload.TotalBytes);
    }

    [SkippableFact]
    public async Task A_daemon_without_page_server_support_is_reported_not_run()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output));
        var checkpoint = await harness.DumpAsync(new TreeWorkload(1, 1, WorkloadTouch.Seq), _dir.Path);
        var local = new CriuDaemonSpec { Label = "local-only", Template = ["/bin/sh", "-c", "echo 'usage: local-only -D DIR'", "local-only"] };

        var result = await harness.RestoreThroughPageServerAsync(checkpoint, local);

        Assert.False(result.Ok);
        Assert.Contains("--page-server", Assert.Single(result.Failures), StringComparison.Ordinal);
    }
}
