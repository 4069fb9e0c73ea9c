namespace LazyActors.Tools.Criu;

/// <summary>Where the destination daemon of a remote restore fetches pages from (<c>--address A --port P</c>).</summary>
/// <param name="Address">The source's address (loopback in tests and the bench).</param>
/// <param name="Port">The source's TCP port.</param>
public sealed record CriuPageServerEndpoint(string Address, int Port)
{
    /// <summary>A free TCP port on 127.0.0.1 (CRIU refuses port 0; the port is free when this returns).</summary>
    public static CriuPageServerEndpoint FreeLoopbackPort()
    {
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        return new CriuPageServerEndpoint("127.0.0.1", ((System.Net.IPEndPoint)probe.LocalEndPoint!).Port);
    }
}
