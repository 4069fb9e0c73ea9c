using System.Diagnostics;
using System.Net;
using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Tests.Protocol.Support;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>
/// A remote one-shot daemon connects to its page server while it opens the checkpoint and binds its socket
/// (<c>LazyPagesEngine.Listen</c>), so the restore's first fault never waits for a connection: the fetcher takes those
/// connections, and a daemon that ends before its restore closes them.
/// </summary>
public sealed class EarlyRemoteConnectionSpecs : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly Config Quiet = ConfigurationFactory.ParseString("akka.loglevel = WARNING");
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private EngineSettings Settings() => EngineSettings.Create(_dir.Path) with
    {
        AcceptTimeout = TimeSpan.FromSeconds(20),
        HandshakeTimeout = TimeSpan.FromSeconds(20),
    };

    /// <summary>Connections a daemon opens to our page server (it serves many): the bulk one(s) and the one for faults.</summary>
    private static int Connections(EngineSettings settings) => settings.Remote.BulkConnections + 1;

    [Fact]
    public async Task Both_connections_are_up_before_the_restore_begins_and_the_restore_uses_them()
    {
        SyntheticCheckpoint.Write(_dir.Path, new SyntheticCheckpointOptions(1, 1 << 20, 7));
        using var store = LazyPageStore.Open(_dir.Path);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), logger: new LogCapture().Logger);
        var hub = new FakeUffdHub();

        var connections = Connections(Settings());
        using var engine = LazyPagesEngine.Listen(Settings(), PageServerEndpoint.Tcp("127.0.0.1", server.LocalEndPoint.Port), Quiet);
        await WaitUntilAsync(() => server.SessionsAccepted == connections, "the bulk connection(s) and the fault connection accepted before RunAsync");
        var run = engine.RunAsync(null, _ => hub, null, CancellationToken.None);
        using (var restorer = new RestorerPlayer(engine.SocketPath))
        {
            restorer.SendTask(SyntheticCheckpoint.FirstPid);
            restorer.SendFinished();
        }

        var result = await run.WaitAsync(Bound);

        Assert.Equal(0, result.ExitCode);
        Assert.All(result.Statistics.Tasks, t => Assert.Equal(t.TotalPages, t.CopiedPages));
        Assert.Equal(connections, server.SessionsAccepted); // no connection of its own: the fetcher took the early ones
        Assert.Contains("a second connection answered", result.Statistics.Remote.Connections, StringComparison.Ordinal);
        await WaitUntilAsync(() => server.SessionsSucceeded == connections, "every session closed with PS_IOV_CLOSE");
    }

    [Fact]
    public async Task A_daemon_disposed_before_its_restore_closes_the_connections_it_opened()
    {
        SyntheticCheckpoint.Write(_dir.Path, new SyntheticCheckpointOptions(1, 1 << 20, 7));
        using var store = LazyPageStore.Open(_dir.Path);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), logger: new LogCapture().Logger);

        var engine = LazyPagesEngine.Listen(Settings(), PageServerEndpoint.Tcp("127.0.0.1", server.LocalEndPoint.Port), Quiet);
        await WaitUntilAsync(() => server.SessionsAccepted == Connections(Settings()), "every connection accepted");
        engine.Dispose();

        await WaitUntilAsync(() => server.ActiveSessions == 0, "the server saw every connection end");
    }

    [Fact]
    public async Task Images_that_cannot_be_served_fail_listen_and_the_connection_opened_meanwhile_is_closed()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.Path, "inventory.img"), "not an image");
        using var servedDir = new ScratchDirectory();
        SyntheticCheckpoint.Write(servedDir.Path, new SyntheticCheckpointOptions(1, 1 << 20, 7));
        using var store = LazyPageStore.Open(servedDir.Path);
        await using var server = LazyPageServer.Start(store, new IPEndPoint(IPAddress.Loopback, 0), logger: new LogCapture().Logger);

        Assert.ThrowsAny<ImageFormatException>(() => LazyPagesEngine.Listen(Settings(), PageServerEndpoint.Tcp("127.0.0.1", server.LocalEndPoint.Port), Quiet));

        Assert.False(File.Exists(Settings().SocketPath));
        // The connection was started before the images failed: it is made, then closed, never left open.
        await WaitUntilAsync(() => server.SessionsAccepted >= 1 && server.ActiveSessions == 0, "the connection opened meanwhile closed again");
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Bound, $"not within {Bound.TotalSeconds} s: {what}");
            await Task.Delay(10);
        }
    }
}
