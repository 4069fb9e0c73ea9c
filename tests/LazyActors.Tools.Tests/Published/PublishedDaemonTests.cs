using LazyActors.Host;
using LazyActors.Testing;
using LazyActors.Tools.Bench;
using LazyActors.Tools.Criu;
using LazyActors.Tools.Tests.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Published;

/// <summary>
/// The published daemon (<see cref="PublishedNativeHost"/>: the NativeAOT program, the IL build beside it) as users run
/// it: both forms of the directory answer, and real <c>criu restore --lazy-pages</c> (CRIU 4.2) is served by the native
/// program with its crash guardian on, every byte of every task verified, through a <c>kill -9</c> of the daemon and
/// detached with <c>-d</c> (each of which starts the program again: the guardian, its successor, the detached daemon),
/// and the native page server serving a remote restore over mutual TLS.
/// Skipped with the reason where clang or CRIU is absent.
/// </summary>
public sealed class PublishedDaemonTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan VerbLimit = TimeSpan.FromSeconds(60);
    private readonly ScratchDirectory _dir = new("published");

    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public async Task The_native_program_and_the_il_build_beside_it_both_run_the_verbs()
    {
        var dir = PublishedNativeHost.Require();
        var native = PublishedHost.PrefixFor(dir);
        Assert.Equal([Path.Combine(dir, "LazyActors.Host")], native);
        IReadOnlyList<string> il = [HostInvocation.DotnetExecutable(), Path.Combine(dir, "LazyActors.Host.dll")];
        var images = FixtureCatalog.PathOf(FixtureCatalog.CopiedPrefix + "single-anon");

        foreach (var prefix in new[] { native, il })
        {
            var (exit, stdout, stderr) = await VerbProcess.RunAsync(prefix, VerbLimit, "version");
            Assert.True(exit == 0, $"{string.Join(' ', prefix)} version: exit {exit}: {stderr}");
            Assert.False(string.IsNullOrWhiteSpace(stdout));

            (exit, stdout, stderr) = await VerbProcess.RunAsync(prefix, VerbLimit, "inspect", "-D", images, "--json");
            Assert.True(exit == 0, $"{string.Join(' ', prefix)} inspect: exit {exit}: {stderr}");
            Assert.Contains("\"lazy_pages\"", stdout, StringComparison.Ordinal);
        }

        // split and merge natively: the round trip gives the images back byte for byte.
        var eager = _dir.Sub("eager");
        var lazy = _dir.Sub("lazy");
        var merged = _dir.Sub("merged");
        var split = await VerbProcess.RunAsync(native, VerbLimit, "split", "-D", images, "--eager-out", eager, "--lazy-out", lazy);
        Assert.True(split.ExitCode == 0, split.Stderr);
        var merge = await VerbProcess.RunAsync(native, VerbLimit, "merge", "--eager", eager, "--lazy", lazy, "-o", merged);
        Assert.True(merge.ExitCode == 0, merge.Stderr);
        foreach (var image in Directory.GetFiles(images, "*.img"))
        {
            Assert.Equal(await File.ReadAllBytesAsync(image), await File.ReadAllBytesAsync(Path.Combine(merged, Path.GetFileName(image))));
        }
    }

    [SkippableFact]
    public async Task The_native_daemon_serves_a_real_lazy_restore_with_its_guardian_every_byte_verified()
    {
        var (harness, checkpoint, native) = await DumpAsync(new TreeWorkload(3, 32, WorkloadTouch.Rand, TreeShape.Binary));

        var result = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Self(hostPrefix: native)));

        CriuResultAssert.EveryByteVerified(result, checkpoint);
        Assert.Equal(0, result.DaemonExitCode);
        Assert.Contains("ended the restore with exit code 0", ReadLog(result, "daemon.log.guardian"), StringComparison.Ordinal);
        // The guardian is the trimmed program published beside the daemon, not the daemon's own program again (cpu61).
        Assert.Contains(GuardianProgramLine(native), ReadLog(result, "daemon.log.guardian"), StringComparison.Ordinal);
    }

    /// <summary>The line a guardian logs when it is the trimmed program published beside the daemon (cpu61), which runs
    /// the daemon's own program as a successor.</summary>
    private static string GuardianProgramLine(IReadOnlyList<string> native) =>
        $"running as {Path.Combine(Path.GetDirectoryName(native[0])!, "LazyActors.Guardian")}; a successor runs {native[0]}";

    [SkippableFact]
    public async Task The_native_daemon_killed_after_the_restore_is_replaced_and_every_byte_is_right()
    {
        var killed = 0;
        var options = RealCriuRequirement.TestOptions(output) with
        {
            BeforeTrigger = tree =>
            {
                killed = tree.DaemonPid;
                Assert.Equal(0, Engine.Interop.Libc.Kill(tree.DaemonPid, 9));
                return Task.CompletedTask;
            },
        };
        var (harness, checkpoint, native) = await DumpAsync(new TreeWorkload(3, 32, WorkloadTouch.Rand, TreeShape.Binary), options);
        // The push is held back: the native daemon has otherwise pushed every page before `criu restore` returns.
        var config = Path.Combine(_dir.Path, "hold-push.hocon");
        await File.WriteAllTextAsync(config, "lazy-actors.engine.background-push-delay = 3s\n");

        var result = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Self(hostPrefix: native) with { ExtraArgs = ["--config", config] }));

        var daemonFailure = Assert.Single(result.Failures);
        Assert.StartsWith($"the daemon (pid {killed})", daemonFailure, StringComparison.Ordinal);
        Assert.Equal(0, result.RootExitCode);
        Assert.Equal(checkpoint.Workload.TotalBytes, result.BytesVerified);
        Assert.All(result.Tasks, t => Assert.Equal(checkpoint.Workload.BytesPerTask, t.BytesVerified));
        var guardianLog = ReadLog(result, "daemon.log.guardian");
        Assert.Contains("starting successor 1", guardianLog, StringComparison.Ordinal);
        Assert.Contains("ended the restore with exit code 0", guardianLog, StringComparison.Ordinal);
        Assert.Contains("resuming a restore whose daemon died (restart 1)", ReadLog(result, "daemon.log"), StringComparison.Ordinal);
        // The guardian that started the successor is the guardian program, which runs the daemon's program for it.
        Assert.Contains(GuardianProgramLine(native), guardianLog, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task The_native_daemon_detaches_with_d_and_serves_the_restore()
    {
        var (harness, checkpoint, native) = await DumpAsync(new TreeWorkload(2, 8, WorkloadTouch.Seq));

        var result = Reported(await harness.RestoreAsync(checkpoint, CriuDaemonSpec.Self(detach: true, hostPrefix: native)));

        CriuResultAssert.EveryByteVerified(result, checkpoint);
    }

    /// <summary>
    /// TLS as deployed: the native page server with a server certificate serves, over mutual TLS, a remote restore to the
    /// native daemon and to CRIU's own daemon (each with a client certificate of the same authority). The IL build's
    /// TLS is tested in RealCriuRemotePairingTests; NativeAOT trims, so the native program's TLS stack (SslStream, X.509
    /// loading of PEM files, chain building against --tls-cacert) is proven here on its own.
    /// </summary>
    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_native_page_server_serves_a_remote_restore_over_mutual_tls(bool nativeDaemon)
    {
        var (harness, checkpoint, native) = await DumpAsync(new TreeWorkload(2, 8, WorkloadTouch.Rand, TreeShape.Binary));
        var pki = new TestPki(_dir.Sub("pki"));
        var ca = pki.CreateAuthority("ca");
        var server = pki.Issue(ca, "server", "127.0.0.1", ["127.0.0.1"]);
        var client = pki.Issue(ca, "client", "127.0.0.1", ["127.0.0.1"]);
        string[] Tls(TestPki.Identity id) => ["--tls", "--tls-cacert", ca.CertificatePath, "--tls-cert", id.CertificatePath, "--tls-key", id.KeyPath];
        var daemon = nativeDaemon
            ? CriuDaemonSpec.Self(hostPrefix: native) with { ExtraArgs = ["-v", "3", .. Tls(client)] }
            : CriuDaemonSpec.Criu(harness.Criu) with { ExtraArgs = Tls(client) };
        var source = CriuSourceSpec.Self(native) with { ExtraArgs = [.. CriuSourceSpec.Self(native).ExtraArgs, .. Tls(server)] };

        var result = Reported(await harness.RestoreThroughPageServerAsync(checkpoint, daemon, source));

        CriuResultAssert.EveryByteVerified(result, checkpoint);
        Assert.Equal(0, result.DaemonExitCode);
        Assert.Contains("TLS session with", ReadLog(result, "page-server.log"), StringComparison.Ordinal);
    }

    private async Task<(CriuHarness Harness, CriuCheckpoint Checkpoint, IReadOnlyList<string> Native)> DumpAsync(CriuWorkload workload, CriuHarnessOptions? options = null)
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var dir = PublishedNativeHost.Require();
        var native = PublishedHost.PrefixFor(dir);
        Assert.Equal([Path.Combine(dir, "LazyActors.Host")], native);
        var harness = new CriuHarness(criu, options ?? RealCriuRequirement.TestOptions(output));
        return (harness, await harness.DumpAsync(workload, _dir.Path), native);
    }

    private CriuRestoreResult Reported(CriuRestoreResult result) => CriuResultAssert.Reported(output, result);

    private static string ReadLog(CriuRestoreResult result, string name)
    {
        var path = Path.Combine(result.WorkDirectory, name);
        return File.Exists(path) ? BackgroundVerb.ReadShared(path) : string.Empty;
    }
}
