using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Engine.Remoting.Wire;

namespace LazyActors.Engine.Remoting;

/// <summary>
/// The Akka transport's actor systems and addresses: the source runs an actor system named <see cref="SourceSystemName"/>
/// with a <see cref="PageSourceActor"/> at <c>/user/page-source</c>; a destination's engine runs with remoting on (its
/// own address on the interface that reaches the source) and asks that actor. Both add <c>Remoting/Transport.conf</c>
/// (serializer bindings, failure detector, frame limit).
/// </summary>
public static class AkkaTransport
{
    /// <summary>The source's actor system name (part of every source address).</summary>
    public const string SourceSystemName = "lazy-source";

    private static readonly Lazy<Config> TransportConfig = new(LoadTransportConfig);

    /// <summary>One checkpoint request's bound within <see cref="DescribeCheckpointAsync"/>: longer than a remoting handshake
    /// may take (dot-netty connection-timeout, 2 s) so a slow but working association is not asked twice.</summary>
    private static readonly TimeSpan DescribeAttempt = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the first contact with a source may take: <paramref name="connectTimeout"/>, at least 15 s. The first
    /// message to a source also sets up the remoting association (TCP, the Akka handshake) from an actor system that has
    /// just started, which takes seconds on a loaded machine; later lookups are bounded by connect-timeout alone.
    /// </summary>
    public static TimeSpan FirstContactTimeout(TimeSpan connectTimeout) =>
        connectTimeout < TimeSpan.FromSeconds(15) ? TimeSpan.FromSeconds(15) : connectTimeout;

    /// <summary>The path of the page source at <paramref name="host"/>:<paramref name="port"/>, or of an address given whole
    /// (<c>akka.tcp://lazy-source@HOST:PORT</c>, with or without the actor's path).</summary>
    /// <exception cref="ArgumentException">Not a usable address.</exception>
    public static ActorPath SourcePath(string host, int port)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        if (host.StartsWith("akka.tcp://", StringComparison.Ordinal) || host.StartsWith("akka://", StringComparison.Ordinal))
        {
            if (!ActorPath.TryParse(host.Contains("/user/", StringComparison.Ordinal) ? host : $"{host.TrimEnd('/')}/user/{PageSourceActor.Name}", out var path)
                || path.Address.Host is null || path.Address.Port is null)
            {
                throw new ArgumentException($"{host}: not an Akka address with a host and a port (akka.tcp://{SourceSystemName}@HOST:PORT)");
            }

            return path;
        }

        if (port is <= 0 or > 65535)
        {
            throw new ArgumentException($"--port must be between 1 and 65535, got {port}");
        }

        var address = new Address("akka.tcp", SourceSystemName, host.Contains(':', StringComparison.Ordinal) ? $"[{host.Trim('[', ']')}]" : host, port);
        return new RootActorPath(address) / "user" / PageSourceActor.Name;
    }

    /// <summary>
    /// The configuration of a transport actor system listening on <paramref name="hostname"/>:<paramref name="port"/>
    /// (0: any free port), with the frame limit for <paramref name="settings"/>' largest reply, over <paramref name="more"/>.
    /// </summary>
    public static Config SystemConfig(string hostname, int port, AkkaTransportSettings settings, Config? more = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var frame = settings.MaximumFrameBytes.ToString(CultureInfo.InvariantCulture);
        var own = ConfigurationFactory.ParseString(string.Create(CultureInfo.InvariantCulture, $$"""
            akka.remote.dot-netty.tcp {
              hostname = "{{hostname}}"
              port = {{port}}
              maximum-frame-size = {{frame}}b
            }
            """));
        return own.WithFallback(more ?? Config.Empty).WithFallback(TransportConfig.Value);
    }

    /// <summary>
    /// The local address a connection to <paramref name="sourceHost"/> leaves from (what the source answers to): a UDP
    /// socket is "connected" there, nothing is sent.
    /// </summary>
    public static string LocalAddressTowards(string sourceHost, int port)
    {
        var addresses = Dns.GetHostAddresses(sourceHost.Trim('[', ']'));
        if (addresses.Length == 0)
        {
            throw new ArgumentException($"{sourceHost}: the name resolves to no address");
        }

        var target = addresses[0];
        using var probe = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        probe.Connect(new IPEndPoint(target, Math.Max(port, 1)));
        return ((IPEndPoint)probe.LocalEndPoint!).Address.ToString();
    }

    /// <summary>
    /// Asks the source at <paramref name="sourcePath"/> for the metadata of <paramref name="checkpointName"/> (empty: the
    /// one it serves) from <paramref name="system"/>, a transport actor system (the engine's own, which then serves the
    /// restore over the association this sets up), and builds the restore's model from it.
    /// </summary>
    /// <exception cref="ImageFormatException">The source answered nothing usable; the message names it.</exception>
    public static async Task<Checkpoint> DescribeCheckpointAsync(ActorSystem system, ActorPath sourcePath, string checkpointName, TimeSpan timeout,
        CancellationToken cancellationToken = default)
    {
        var metadata = await RequestMetadataAsync(system, sourcePath, checkpointName, timeout, cancellationToken).ConfigureAwait(false);
        return CheckpointDescription.ToCheckpoint(metadata, sourcePath.Address.ToString());
    }

    /// <summary>
    /// <see cref="DescribeCheckpointAsync"/>'s request, answering the description as it came (crash safety keeps it, so a
    /// successor can check that the source still describes the same checkpoint, and a give-up can name what was lost).
    /// </summary>
    /// <exception cref="ImageFormatException">The source answered nothing usable; the message names it.</exception>
    public static async Task<CheckpointMetadata> RequestMetadataAsync(ActorSystem system, ActorPath sourcePath, string checkpointName, TimeSpan timeout,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(sourcePath);
        // A request sent while the association is being set up is dropped when that handshake fails (on a loaded machine
        // Akka's handshake timeout passes before the source answers): it is sent again, each attempt bounded, until the
        // whole timeout has passed. A late answer to an earlier attempt goes to that attempt's ended Ask, harmlessly.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        object? answer = null;
        for (ulong attempt = 1; answer is null; attempt++)
        {
            var left = timeout - clock.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                throw new ImageFormatException(sourcePath.ToString(), $"the page source did not describe its checkpoint within {timeout.TotalSeconds:0.###} s ({attempt - 1} request(s); is `page-server --transport akka` serving there?)");
            }

            try
            {
                answer = await system.ActorSelection(sourcePath).Ask<object>(new CheckpointRequest { RequestId = attempt, Checkpoint = checkpointName },
                    left < DescribeAttempt ? left : DescribeAttempt, cancellationToken).ConfigureAwait(false);
            }
            catch (AskTimeoutException)
            {
                // Asked again while time is left.
            }
        }

        return answer switch
        {
            CheckpointMetadata metadata => metadata,
            CheckpointUnavailable unavailable => throw new ImageFormatException(sourcePath.ToString(), $"checkpoint '{unavailable.Checkpoint}' is not served there: {unavailable.Reason}"),
            _ => throw new ImageFormatException(sourcePath.ToString(), $"an unexpected answer {answer.GetType().Name} to a checkpoint request"),
        };
    }

    private static Config LoadTransportConfig()
    {
        var assembly = typeof(AkkaTransport).Assembly;
        using var stream = assembly.GetManifestResourceStream("LazyActors.Engine.Remoting.Transport.conf")
            ?? throw new InvalidOperationException("embedded resource LazyActors.Engine.Remoting.Transport.conf is missing");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}
