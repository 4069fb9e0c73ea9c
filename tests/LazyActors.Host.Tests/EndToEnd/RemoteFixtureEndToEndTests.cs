using System.Globalization;
using System.Net;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Testing;
using LazyActors.Tools.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.EndToEnd;

/// <summary>
/// Real CRIU 4.2 dumps (the fixtures) restored by the restore simulator on real processes, our engine fetching every lazy
/// page with <c>--page-server</c>: from our page server and from <c>criu page-server --lazy-pages</c> (skipped with the
/// reason where CRIU is absent; <c>fs.pipe-max-size</c> raised to 4 MiB for it and put back). Every byte verified.
/// </summary>
public sealed class RemoteFixtureEndToEndTests(ITestOutputHelper output)
{
    public static TheoryData<string> Fixtures => FixtureCatalog.All();

    [SkippableTheory]
    [MemberData(nameof(Fixtures))]
    public async Task A_fixture_is_restored_from_our_page_server(string fixture)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var images = FixtureCatalog.PathOf(fixture);
        SimulatorTestSupport.SkipIfLazyDataIsRemote(fixture, images);
        using var work = new ScratchDirectory("rfx");
        using var store = LazyPageStore.Open(images);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0));

        var settings = RemoteRestoreRun.SettingsFor(images, work.Path, FaultConnectionMode.Auto);
        var (report, result) = await new RemoteRestoreRun(settings, PageServerEndpoint.Tcp("127.0.0.1", server.LocalEndPoint.Port), output).RunAsync();

        RemoteRestoreRun.AssertRestored(report, result);
    }

    [SkippableTheory]
    [MemberData(nameof(Fixtures))]
    public async Task A_fixture_is_restored_from_criu_page_server(string fixture)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var images = FixtureCatalog.PathOf(fixture);
        SimulatorTestSupport.SkipIfLazyDataIsRemote(fixture, images);
        var criu = await CriuTool.LocateAsync();
        Skip.IfNot(criu.Available, criu.Problem);
        using var work = new ScratchDirectory("rfc");
        using var pipes = new PipeMaxSizeScope();
        var port = BackgroundVerb.FreePort();
        var log = Path.Combine(work.Path, "criu-ps.log");
        using var server = BackgroundVerb.Start([criu.Tool!.Path],
            "page-server", "-D", images, "--address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--lazy-pages", "-v4", "-o", log);
        Assert.True(server.WaitForLog(log, "Running status-ready scripts", TimeSpan.FromSeconds(30)), $"criu page-server did not listen: {(File.Exists(log) ? BackgroundVerb.ReadShared(log) : "no log")}");

        var settings = RemoteRestoreRun.SettingsFor(images, work.Path, FaultConnectionMode.Auto);
        var (report, result) = await new RemoteRestoreRun(settings, PageServerEndpoint.Tcp("127.0.0.1", port), output).RunAsync();

        RemoteRestoreRun.AssertRestored(report, result);
        var (exit, _, _) = server.WaitForExit(TimeSpan.FromSeconds(10)); // one session, closed with PS_IOV_CLOSE: it ends by itself
        Assert.True(exit == 0, $"criu page-server exited {exit}: {BackgroundVerb.ReadShared(log)[^Math.Min(2000, BackgroundVerb.ReadShared(log).Length)..]}");
        Assert.Contains("one shared connection", result.Statistics.Remote.Connections, StringComparison.Ordinal); // CRIU serves one
    }
}
