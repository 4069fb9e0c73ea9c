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
    /// <summary>
    /// With <c>directIo</c> (remote.direct-io), every connection's replies are read with blocking recv(MSG_WAITALL) of its
    /// own: the same restore, every byte verified, no session failed (the close still ends every connection cleanly).
    /// </summary>
    [SkippableTheory]
    [InlineData(FaultConnectionMode.Auto, TouchOrder.Rand, false)]
    [InlineData(FaultConnectionMode.Off, TouchOrder.Rand, false)]
    [InlineData(FaultConnectionMode.Auto, TouchOrder.Seq, false)]
    [InlineData(FaultConnectionMode.Auto, TouchOrder.Rand, true)]
    [InlineData(FaultConnectionMode.Off, TouchOrder.Rand, true)]
    public async Task Engine_restores_a_tree_from_our_page_server(FaultConnectionMode mode, TouchOrder order, bool directIo)
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("rem");
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(4, 16L << 20, directIo ? (ushort)0xD10 : (ushort)0xC0DE));
        using var store = LazyPageStore.Open(images);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0));

        var settings = RemoteRestoreRun.SettingsFor(images, work.Path, mode);
        settings = settings with { Remote = settings.Remote with { DirectIo = directIo } };
        var (report, result) = await new RemoteRestoreRun(settings, PageServerEndpoint.Tcp("127.0.0.1", server.LocalEndPoint.Port), output).RunAsync(order);

        RemoteRestoreRun.AssertRestored(report, result);
        await server.StopAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, server.SessionsFailed);
        Assert.Equal(mode == FaultConnectionMode.Off ? 1 : settings.Remote.BulkConnections + 1, server.SessionsAccepted); // auto: bulk (remote.bulk-connections), and faults (checked with one GET)
    }
}
