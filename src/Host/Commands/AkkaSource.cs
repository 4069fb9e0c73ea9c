using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol.Tls;
using LazyActors.Engine.Remoting;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>lazy-pages --page-server --transport akka</c>: the source's checkpoint, described by it over Akka.Remote before
/// the daemon listens (so a restorer never meets a daemon that cannot serve it), and the remoting configuration of the
/// engine's actor system, whose fetcher then asks that source for the pages.
/// </summary>
internal sealed class AkkaSource
{
    private AkkaSource(ActorPath path, Checkpoint checkpoint, string localAddress)
    {
        Path = path;
        Checkpoint = checkpoint;
        LocalAddress = localAddress;
    }

    /// <summary>The source's page source actor.</summary>
    public ActorPath Path { get; }

    /// <summary>The model the source described (owned by the engine once listening).</summary>
    public Checkpoint Checkpoint { get; }

    /// <summary>This host's address towards the source (the engine's remoting listens there, on a free port).</summary>
    public string LocalAddress { get; }

    /// <exception cref="ArgumentException">Bad options.</exception>
    /// <exception cref="ImageFormatException">The source did not describe a usable checkpoint (named).</exception>
    public static async Task<AkkaSource> DescribeAsync(string? address, int? port, int? psSocket, PageServerTlsSettings? tls, string? checkpointName, EngineSettings settings)
    {
        if (psSocket is not null || tls is not null)
        {
            throw new ArgumentException("--transport akka takes --address and --port (or an akka.tcp:// address); --ps-socket and --tls are for the criu transport");
        }

        if (string.IsNullOrEmpty(address))
        {
            throw new ArgumentException("--page-server --transport akka needs --address (the source host, or akka.tcp://lazy-source@HOST:PORT) and --port");
        }

        var path = AkkaTransport.SourcePath(address, port ?? 0);
        var local = AkkaTransport.LocalAddressTowards(path.Address.Host!, path.Address.Port ?? 1);
        var timeout = AkkaTransport.FirstContactTimeout(settings.Remote.ConnectTimeout);
        var checkpoint = await AkkaTransport.DescribeCheckpointAsync(path, checkpointName ?? string.Empty, settings.Remote.Akka, timeout).ConfigureAwait(false);
        return new AkkaSource(path, checkpoint, local);
    }

    /// <summary>The engine's Akka configuration with remoting on, over <paramref name="akka"/>.</summary>
    public Config EngineConfig(Config akka, EngineSettings settings) => AkkaTransport.SystemConfig(LocalAddress, 0, settings.Remote.Akka, akka);
}
