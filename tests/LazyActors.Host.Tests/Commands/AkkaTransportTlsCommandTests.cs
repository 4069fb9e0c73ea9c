using System.Globalization;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.Commands;

/// <summary>
/// The Akka transport with <c>--tls</c> (Akka.Remote's DotNetty SSL with our X.509 files, mutual), each side in its own
/// process on loopback: with certificates of the trusted CA the restore runs over TLS and every byte is right; a daemon
/// whose certificate another CA signed is refused by the source, which logs why, and the daemon fails naming the source.
/// </summary>
public sealed class AkkaTransportTlsCommandTests(ITestOutputHelper output)
{
    private const int SigTerm = 15;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    [SkippableFact]
    public void With_mutual_tls_the_restore_runs_over_the_akka_transport_and_every_byte_is_right()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("akt");
        var images = Images(work);
        var pki = new TestPki(work.CreateSub("pki"));
        var ca = pki.CreateAuthority("ca");
        var source = pki.Issue(ca, "source", "127.0.0.1", ["127.0.0.1"]);
        var destination = pki.Issue(ca, "destination", "127.0.0.1", ["127.0.0.1"]);
        var port = BackgroundVerb.FreePort();
        using var server = StartServer(images, work, port, Tls(source, ca));
        using var daemon = StartDaemon(work, port, Tls(destination, ca));

        var report = new RestoreSimulator(new RestoreSimOptions { ImagesDir = images, WorkDir = work.Path, Touch = TouchOrder.Rand, Threads = 2, Timeout = Bound }).Run();

        SimulatorTestSupport.WriteTasks(output, report);
        SimulatorTestSupport.AssertEveryPageVerified(report);
        var (exit, _, stderr) = daemon.WaitForExit(Bound);
        Assert.True(exit == 0, $"lazy-pages exited {exit}: {stderr} {WorkLog.Read(work, "lp.log")}");
        Assert.Contains("connected over Akka.Remote", WorkLog.Read(work, "lp.log"), StringComparison.Ordinal);
        server.Signal(SigTerm);
        var (serverExit, _, serverErr) = server.WaitForExit(Bound);
        var serverLog = WorkLog.Read(work, "ps.log");
        Assert.True(serverExit == 0, $"page-server exited {serverExit}: {serverErr} {serverLog}");
        Assert.Contains("over mutual TLS", serverLog, StringComparison.Ordinal);
        Assert.DoesNotContain("TLS: refused", serverLog, StringComparison.Ordinal);
        Assert.Matches(@"page-server: sent [1-9]\d* byte\(s\) to destination akka\.ssl\.tcp://lazy-actors@127\.0\.0\.1:\d+", serverLog);
    }

    [SkippableFact]
    public void A_daemon_whose_certificate_another_ca_signed_is_refused_and_logged_by_the_source()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("aktx");
        var images = Images(work);
        var pki = new TestPki(work.CreateSub("pki"));
        var ca = pki.CreateAuthority("ca");
        var otherCa = pki.CreateAuthority("other-ca");
        var source = pki.Issue(ca, "source", "127.0.0.1", ["127.0.0.1"]);
        var stranger = pki.Issue(otherCa, "stranger", "127.0.0.1", ["127.0.0.1"]);
        var port = BackgroundVerb.FreePort();
        using var server = StartServer(images, work, port, Tls(source, ca));

        // The stranger trusts the source's CA, so it is the source that refuses it (its certificate is otherCa's).
        using var daemon = BackgroundVerb.Start(HostInvocation.Prefix(),
            ["lazy-pages", "-D", work.CreateSub("nothing-here"), "-W", work.Path, "--page-server", "--transport", "akka", "--address", "127.0.0.1",
                "--port", port.ToString(CultureInfo.InvariantCulture), "-v", "3", "-o", "lp.log", "--config", Config(work), .. Tls(stranger, ca)]);
        var (exit, _, stderr) = daemon.WaitForExit(Bound);

        output.WriteLine(stderr);
        Assert.Equal(1, exit);
        Assert.Contains($"akka.ssl.tcp://lazy-source@127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", stderr, StringComparison.Ordinal);
        Assert.Contains("did not describe its checkpoint", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(work.Path, "lazy-pages.socket")));
        server.Signal(SigTerm);
        server.WaitForExit(Bound);
        var serverLog = WorkLog.Read(work, "ps.log");
        output.WriteLine(serverLog);
        Assert.Contains("TLS: refused the connection of", serverLog, StringComparison.Ordinal);
        Assert.Contains("does not verify against the trusted CAs", serverLog, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"page-server: sent [1-9]", serverLog);
    }

    private static string[] Tls(TestPki.Identity identity, TestPki.Authority trusted) =>
        ["--tls", "--tls-cacert", trusted.CertificatePath, "--tls-cert", identity.CertificatePath, "--tls-key", identity.KeyPath];

    private static string Images(ScratchDirectory work)
    {
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 8L << 20, 0x7151));
        return images;
    }

    private static string Config(ScratchDirectory work)
    {
        var path = Path.Combine(work.Path, "tls.hocon");
        File.WriteAllText(path, """
            lazy-actors.engine.remote {
              connect-timeout = 1s
              give-up-after = 5s
            }
            """);
        return path;
    }

    private BackgroundVerb StartServer(string images, ScratchDirectory work, int port, string[] tls)
    {
        var process = BackgroundVerb.Start(HostInvocation.Prefix(),
            ["page-server", "-D", images, "-W", work.Path, "--address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--lazy-pages", "--transport", "akka",
                "-v", "3", "-o", "ps.log", .. tls]);
        if (!process.WaitForLog(Path.Combine(work.Path, "ps.log"), "Using ", Bound))
        {
            var (exit, _, stderr) = process.WaitForExit(TimeSpan.FromSeconds(10));
            throw new InvalidOperationException($"page-server did not start (exit {exit}): {stderr} {WorkLog.Read(work, "ps.log")}");
        }

        output.WriteLine($"page-server --transport akka --tls pid {process.Pid} on port {port}");
        return process;
    }

    private BackgroundVerb StartDaemon(ScratchDirectory work, int port, string[] tls)
    {
        var process = BackgroundVerb.Start(HostInvocation.Prefix(),
            ["lazy-pages", "-D", work.CreateSub("nothing-here"), "-W", work.Path, "--page-server", "--transport", "akka", "--address", "127.0.0.1",
                "--port", port.ToString(CultureInfo.InvariantCulture), "-v", "3", "-o", "lp.log", "--config", Config(work), .. tls]);
        if (!process.WaitForLog(Path.Combine(work.Path, "lp.log"), $"listening on {Path.Combine(work.Path, "lazy-pages.socket")}", Bound))
        {
            var (exit, _, stderr) = process.WaitForExit(TimeSpan.FromSeconds(10));
            throw new InvalidOperationException($"lazy-pages did not start (exit {exit}): {stderr} {WorkLog.Read(work, "lp.log")}");
        }

        return process;
    }
}
