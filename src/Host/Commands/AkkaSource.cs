using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol.Tls;
using LazyActors.Engine.Remoting;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>lazy-pages --page-server --transport akka</c>: the engine's actor system, with remoting towards the source, and
/// the source's checkpoint, described by it over that system before the daemon listens (so a restorer never meets a
/// daemon that cannot serve it). The same system then serves the restore: one actor system and one association, where
/// a short-lived system for the metadata used to cost a second start-up.
/// </summary>
internal sealed class AkkaSource
{
    private AkkaSource(ActorPath path, Checkpoint checkpoint, ActorSystem system)
    {
        Path = path;
        Checkpoint = checkpoint;
        System = system;
    }

    /// <summary>The source's page source actor.</summary>
    public ActorPath Path { get; }

    /// <summary>The model the source described (owned by the engine once listening).</summary>
    public Checkpoint Checkpoint { get; }

    /// <summary>The engine's actor system (owned by the engine once listening).</summary>
    public ActorSystem System { get; }

    /// <summary>Builds the engine's system with remoting (over <paramref name="akka"/>) and asks the source for its checkpoint.</summary>
    /// <exception cref="ArgumentException">Bad options.</exception>
    /// <exception cref="ImageFormatException">The source did not describe a usable checkpoint (named).</exception>
    public static async Task<AkkaSource> DescribeAsync(string? address, int? port, int? psSocket, PageServerTlsSettings? tls, string? checkpointName, EngineSettings settings, Config akka)
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
        var system = LazyPagesEngine.CreateRemoteSystem(settings, AkkaTransport.SystemConfig(local, 0, settings.Remote.Akka, akka));
        try
        {
            var checkpoint = await AkkaTransport.DescribeCheckpointAsync(system, path, checkpointName ?? string.Empty, timeout).ConfigureAwait(false);
            return new AkkaSource(path, checkpoint, system);
        }
        catch
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            throw;
        }
    }
}
