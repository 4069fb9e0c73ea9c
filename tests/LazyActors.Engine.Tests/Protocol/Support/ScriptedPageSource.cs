using System.Net;
using System.Net.Sockets;

namespace LazyActors.Engine.Tests.Protocol.Support;

/// <summary>
/// A fake page server on loopback that plays a script against one client connection: read requests, send replies
/// (correct or deliberately broken), stall, close or reset. Reusable for any test of a page-server client. The script
/// runs when the client connects; <see cref="Completion"/> ends with the script (its exceptions included). Everything is
/// bounded: disposing stops the listener and closes the connection.
/// </summary>
internal sealed class ScriptedPageSource : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();

    private ScriptedPageSource(Func<ScriptedConnection, Task> script)
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start(1);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        Completion = RunAsync(script);
    }

    public int Port { get; }

    /// <summary>Ends when the script has run (faulted if it threw).</summary>
    public Task Completion { get; }

    public static ScriptedPageSource Start(Func<ScriptedConnection, Task> script) => new(script);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await Completion.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // the script was cut short by the test's end
        }

        _stop.Dispose();
    }

    private async Task RunAsync(Func<ScriptedConnection, Task> script)
    {
        using var socket = await _listener.AcceptSocketAsync(_stop.Token);
        socket.NoDelay = true;
        await using var connection = new ScriptedConnection(socket, _stop.Token);
        await script(connection);
    }
}
