using System.Globalization;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Tls;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.Commands;

/// <summary>
/// The remote verbs as users run them, each in its own process: <c>page-server</c> on the source side,
/// <c>lazy-pages --page-server</c> on the destination, the restore simulator as <c>criu restore --lazy-pages</c>. Every
/// byte is verified; the page server is killed (SIGKILL) and restarted mid-restore, or never comes back.
/// </summary>
public sealed class PageServerCommandTests(ITestOutputHelper output)
{
    private const int SigKill = 9;
    private const int SigTerm = 15;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Page_server_refuses_to_run_without_lazy_pages()
    {
        using var work = new ScratchDirectory("psv");
        var (exit, _, stderr) = await VerbProcess.RunAsync(HostInvocation.Prefix(), Bound, "page-server", "-D", work.Path, "--port", "1");
        Assert.Equal(1, exit);
        Assert.Contains("only --lazy-pages is supported", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-21")]
    [InlineData("20")]
    public async Task Page_server_refuses_a_session_nice_value_outside_minus_20_to_19(string nice)
    {
        using var work = new ScratchDirectory("psv");
        var (exit, _, stderr) = await VerbProcess.RunAsync(HostInvocation.Prefix(), Bound, "page-server", "-D", work.Path, "--port", "0", "--lazy-pages", "--session-nice", nice);
        Assert.NotEqual(0, exit);
        Assert.Contains($"--session-nice {nice}: a nice value is -20..19", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Page_server_names_the_image_directory_it_cannot_read()
    {
        using var work = new ScratchDirectory("psv");
        var (exit, _, stderr) = await VerbProcess.RunAsync(HostInvocation.Prefix(), Bound, "page-server", "-D", work.Sub("nothing"), "--port", "0", "--lazy-pages");
        Assert.Equal(1, exit);
        Assert.Contains(work.Sub("nothing"), stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--page-server", "--port", "27027" }, "--page-server needs --address")]
    [InlineData(new[] { "--page-server", "--address", "127.0.0.1" }, "--page-server needs --port")]
    [InlineData(new[] { "--page-server", "--address", "127.0.0.1", "--port", "27027", "--tls", "--tls-cacert", "/nonexistent/ca.pem" }, "/nonexistent/ca.pem")]
    public async Task Lazy_pages_with_a_page_server_refuses_incomplete_options(string[] options, string expected)
    {
        using var work = new ScratchDirectory("lpv");
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(1, 1L << 20, 1));
        var (exit, _, stderr) = await VerbProcess.RunAsync(HostInvocation.Prefix(), Bound, ["lazy-pages", "-D", images, .. options]);
        Assert.Equal(1, exit);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Our_daemon_restores_from_our_page_server_and_the_server_drains_on_SIGTERM(bool tls)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("psr");
        var images = Images(work, 3, 8);
        var tlsArgs = tls ? TlsArgs(work) : ([], []);
        using var server = StartServer(images, work, "ps.log", BackgroundVerb.FreePort(), tlsArgs.Server);
        using var daemon = StartDaemon(images, work, "127.0.0.1", server.Port, config: null, tlsArgs.Client);

        var report = Simulate(images, work);

        Assert.True(report.Ok, report.Error);
        Assert.All(report.Tasks, t => Assert.Equal(0, t.Mismatches));
        var (exit, _, stderr) = daemon.Process.WaitForExit(Bound);
        Assert.True(exit == 0, $"lazy-pages exited {exit}: {stderr}");
        var log = WorkLog.Read(work, "lp.log");
        Assert.Contains("every task is complete", log, StringComparison.Ordinal);
        Assert.Contains("session closed (status 0)", log, StringComparison.Ordinal);
        if (tls)
        {
            Assert.Contains("over TLS (Tls13", log, StringComparison.Ordinal);
        }

        server.Process.Signal(SigTerm);
        var (serverExit, _, serverErr) = server.Process.WaitForExit(Bound);
        Assert.True(serverExit == 0, $"page-server exited {serverExit}: {serverErr}");
        var serverLog = WorkLog.Read(work, "ps.log");
        Assert.Matches(@"page-server: \d+ session\(s\), \d+ succeeded, 0 failed", serverLog);
    }

    [SkippableFact]
    public async Task With_tls_a_client_whose_certificate_another_CA_signed_is_refused_and_logged()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("pst");
        var images = Images(work, 1, 1);
        var (serverArgs, _) = TlsArgs(work);
        using var server = StartServer(images, work, "ps.log", BackgroundVerb.FreePort(), serverArgs);
        var pki = new TestPki(work.Sub("other-pki"));
        var otherCa = pki.CreateAuthority("other-ca");
        var stranger = pki.Issue(otherCa, "stranger", "127.0.0.1", ["127.0.0.1"]);
        using var credentials = PageServerTlsCredentials.Load(TestPki.Settings(stranger, otherCa, verifyName: false));

        await Assert.ThrowsAsync<PageServerException>(async () =>
        {
            await using var client = await PageServerClient.ConnectAsync("127.0.0.1", server.Port, new PageServerClientOptions { Tls = credentials, ConnectTimeout = TimeSpan.FromSeconds(10) });
            await client.GetPagesAsync(1000, 0x7e0000000000, 1, new byte[4096]);
        });
        Assert.True(server.Process.WaitForLog(Path.Combine(work.Path, "ps.log"), "Refused TLS client", Bound), WorkLog.Read(work, "ps.log"));
    }

    [SkippableFact]
    public async Task The_page_server_killed_and_restarted_mid_restore_and_the_restore_completes_with_every_byte()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("psk");
        var images = Images(work, 3, 16);
        var port = BackgroundVerb.FreePort();
        var first = StartServer(images, work, "ps1.log", port, []);
        // Background transfer waits, and the tasks touch only once the source is dead (a kill timed after "restore
        // finished" came after the last page on fast machines: CI run 23): they fault while it is gone and wait.
        var config = RemoteTestConfig.Write(work, giveUpAfter: "30s", pushDelay: "2s");
        using var daemon = StartDaemon(images, work, "127.0.0.1", port, config, []);
        var gate = new TouchGate(work);
        var simulation = Task.Run(() => Simulate(images, work, gate));

        Assert.True(daemon.Process.WaitForLog(Path.Combine(work.Path, "lp.log"), "restore finished", Bound), WorkLog.Read(work, "lp.log"));
        Assert.True(first.Process.WaitForLog(Path.Combine(work.Path, "ps1.log"), "Accepted connection", Bound));
        first.Process.Signal(SigKill);
        first.Process.WaitForExit(Bound);
        first.Dispose();
        gate.Open();
        Thread.Sleep(500); // the daemon retries meanwhile; its faulting tasks wait
        using var second = StartServer(images, work, "ps2.log", port, []);

        var report = await simulation.WaitAsync(Bound); // TimeoutException: the simulation did not end
        SimulatorTestSupport.WriteTasks(output, report);
        Assert.True(report.Ok, report.Error);
        Assert.All(report.Tasks, t => Assert.Equal(0, t.Mismatches));
        var (exit, _, stderr) = daemon.Process.WaitForExit(Bound);
        var log = WorkLog.Read(work, "lp.log");
        output.WriteLine(log);
        Assert.True(exit == 0, $"lazy-pages exited {exit}: {stderr}");
        Assert.Contains("connection lost", log, StringComparison.Ordinal);
        Assert.Contains("reconnected after", log, StringComparison.Ordinal);
        Assert.Contains("Accepted connection", WorkLog.Read(work, "ps2.log"), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_page_server_that_never_comes_back_gets_the_tree_stopped_and_lazy_pages_exits_1_naming_what_was_missing()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("psg");
        // The source dies before the first touch, so the tree is given up (a kill timed after "restore finished" came
        // after the last page in CI-like run 19: the daemon exited 0).
        var images = Images(work, 2, 16);
        var port = BackgroundVerb.FreePort();
        using var server = StartServer(images, work, "ps.log", port, []);
        var config = RemoteTestConfig.Write(work, giveUpAfter: "2s", pushDelay: "5s");
        using var daemon = StartDaemon(images, work, "127.0.0.1", port, config, []);
        var gate = new TouchGate(work);
        var simulation = Task.Run(() => Simulate(images, work, gate));

        Assert.True(daemon.Process.WaitForLog(Path.Combine(work.Path, "lp.log"), "restore finished", Bound), WorkLog.Read(work, "lp.log"));
        server.Process.Signal(SigKill);
        server.Process.WaitForExit(Bound);
        gate.Open();

        var (exit, _, stderr) = daemon.Process.WaitForExit(Bound);
        var report = await simulation.WaitAsync(Bound); // TimeoutException: the simulation did not end
        SimulatorTestSupport.WriteTasks(output, report);
        output.WriteLine(stderr);
        Assert.Equal(1, exit);
        Assert.Contains($"lazy-pages: page server 127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)} given up", stderr, StringComparison.Ordinal);
        Assert.Contains("SIGKILL to ", stderr, StringComparison.Ordinal);
        Assert.Matches(@"not served: task \d+.*: \d+ page\(s\) in \d+ range\(s\): 0x", stderr);
        Assert.False(report.Ok);
        Assert.All(report.Tasks, t => Assert.Equal(0, t.Mismatches)); // stopped, never handed zeros
    }

    private static string Images(ScratchDirectory work, int tasks, int mib)
    {
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(tasks, (long)mib << 20, 0x5E4E));
        return images;
    }

    private (string[] Server, string[] Client) TlsArgs(ScratchDirectory work)
    {
        var pki = new TestPki(work.Sub("pki"));
        var ca = pki.CreateAuthority("ca");
        var serverId = pki.Issue(ca, "server", "127.0.0.1", ["127.0.0.1"]);
        var clientId = pki.Issue(ca, "client", "127.0.0.1", ["127.0.0.1"]);
        string[] Args(TestPki.Identity id) => ["--tls", "--tls-cacert", ca.CertificatePath, "--tls-cert", id.CertificatePath, "--tls-key", id.KeyPath];
        return (Args(serverId), Args(clientId));
    }

    private Server StartServer(string images, ScratchDirectory work, string log, int port, string[] extra)
    {
        var process = BackgroundVerb.Start(HostInvocation.Prefix(),
            ["page-server", "-D", images, "-W", work.Path, "--address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--lazy-pages", "-v", "3", "-o", log, .. extra]);
        if (!process.WaitForLog(Path.Combine(work.Path, log), "Using ", Bound))
        {
            var (exit, _, stderr) = process.WaitForExit(TimeSpan.FromSeconds(10));
            throw new InvalidOperationException($"page-server did not start (exit {exit}): {stderr} {WorkLog.Read(work, log)}");
        }

        output.WriteLine($"page-server pid {process.Pid} on port {port}");
        return new Server(process, port);
    }

    private Daemon StartDaemon(string images, ScratchDirectory work, string address, int port, string? config, string[] extra)
    {
        string[] configArgs = config is null ? [] : ["--config", config];
        var process = BackgroundVerb.Start(HostInvocation.Prefix(),
            ["lazy-pages", "-D", images, "-W", work.Path, "--page-server", "--address", address, "--port", port.ToString(CultureInfo.InvariantCulture), "-v", "3", "-o", "lp.log", .. configArgs, .. extra]);
        if (!process.WaitForLog(Path.Combine(work.Path, "lp.log"), "listening on", Bound))
        {
            var (exit, _, stderr) = process.WaitForExit(TimeSpan.FromSeconds(10));
            throw new InvalidOperationException($"lazy-pages did not start (exit {exit}): {stderr} {WorkLog.Read(work, "lp.log")}");
        }

        return new Daemon(process);
    }

    private SimReport Simulate(string images, ScratchDirectory work, TouchGate? gate = null) => new RestoreSimulator(new RestoreSimOptions
    {
        ImagesDir = images,
        WorkDir = work.Path,
        Touch = TouchOrder.Rand,
        Threads = 2,
        Timeout = Bound,
        TouchGate = gate?.Path,
        Progress = output.WriteLine,
    }).Run();

    private sealed record Server(BackgroundVerb Process, int Port) : IDisposable
    {
        public void Dispose() => Process.Dispose();
    }

    private sealed record Daemon(BackgroundVerb Process) : IDisposable
    {
        public void Dispose() => Process.Dispose();
    }
}
