using System.Net;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.EndToEnd;

/// <summary>
/// The engine as the destination of a remote restore: its pages come from our lazy page server over loopback TCP, the
/// restore simulator plays <c>criu restore --lazy-pages</c> on real processes, every byte is verified.
/// </summary>
public sealed class RemoteEngineEndToEndTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData(FaultConnectionMode.Auto, TouchOrder.Rand)]
    [InlineData(FaultConnectionMode.Off, TouchOrder.Rand)]
    [InlineData(FaultConnectionMode.Auto, TouchOrder.Seq)]
    public async Task Engine_restores_a_tree_from_our_page_server(FaultConnectionMode mode, TouchOrder order)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("rem");
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(4, 16L << 20, 0xC0DE));
        using var store = LazyPageStore.Open(images);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0));

        var settings = RemoteRestoreRun.SettingsFor(images, work.Path, mode);
        var (report, result) = await new RemoteRestoreRun(settings, PageServerEndpoint.Tcp("127.0.0.1", server.LocalEndPoint.Port), output).RunAsync(order);

        RemoteRestoreRun.AssertRestored(report, result);
        await server.StopAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, server.SessionsFailed);
        Assert.Equal(mode == FaultConnectionMode.Off ? 1 : settings.Remote.BulkConnections + 1, server.SessionsAccepted); // auto: bulk (remote.bulk-connections), and faults (checked with one GET)
    }

    /// <summary>
    /// remote.direct-io: every connection's replies read with blocking recv(MSG_WAITALL) of its own; the same restore
    /// from our page server, every byte verified, no session failed (the close still ends every connection cleanly).
    /// </summary>
    [SkippableTheory]
    [InlineData(FaultConnectionMode.Auto)]
    [InlineData(FaultConnectionMode.Off)]
    public async Task Engine_restores_a_tree_from_our_page_server_with_direct_io(FaultConnectionMode mode)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("remd");
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(4, 16L << 20, 0xD10));
        using var store = LazyPageStore.Open(images);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0));

        var settings = RemoteRestoreRun.SettingsFor(images, work.Path, mode);
        settings = settings with { Remote = settings.Remote with { DirectIo = true } };
        var (report, result) = await new RemoteRestoreRun(settings, PageServerEndpoint.Tcp("127.0.0.1", server.LocalEndPoint.Port), output).RunAsync(TouchOrder.Rand);

        RemoteRestoreRun.AssertRestored(report, result);
        await server.StopAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, server.SessionsFailed);
        Assert.Equal(mode == FaultConnectionMode.Off ? 1 : settings.Remote.BulkConnections + 1, server.SessionsAccepted);
    }
}
