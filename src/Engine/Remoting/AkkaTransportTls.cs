using Akka.Configuration;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;
using LazyActors.Engine.Protocol.Tls;

namespace LazyActors.Engine.Remoting;

/// <summary>
/// TLS for the Akka transport (<c>--tls</c> with <c>--transport akka</c>, source and destination alike): Akka.Remote's
/// DotNetty SSL with our X.509 files (the same <c>--tls-cacert</c>, <c>--tls-cert</c>, <c>--tls-key</c>, <c>--tls-cacrl</c>
/// as the CRIU transport), mutual: each side presents its certificate and accepts a peer only if its chain verifies
/// against the given CAs and no certificate of it is revoked (<see cref="PageServerTlsCredentials"/>' own check, so the
/// rules are those of the CRIU transport); a refused peer is logged with the reason. The peer's name is not checked:
/// remoting associations are made to and from actor system addresses, not to the host names a certificate names.
/// </summary>
public static class AkkaTransportTls
{
    /// <summary>The protocol of a transport actor system with SSL on (its addresses are <c>akka.ssl.tcp://...</c>).</summary>
    public const string Protocol = "akka.ssl.tcp";

    /// <summary>The HOCON that turns SSL on for the transport's DotNetty TCP (with <see cref="Setup"/> on the same system).</summary>
    public static Config SslConfig { get; } = ConfigurationFactory.ParseString("""
        akka.remote.dot-netty.tcp {
          enable-ssl = true
          ssl {
            suppress-validation = false
            require-mutual-authentication = true
            validate-certificate-hostname = false
          }
        }
        """);

    /// <summary><paramref name="address"/> on the SSL protocol (a source or seed given as <c>akka.tcp://</c> or HOST:PORT).</summary>
    public static Akka.Actor.Address OverTls(Akka.Actor.Address address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return new Akka.Actor.Address(Protocol, address.System, address.Host, address.Port);
    }

    /// <summary><paramref name="path"/> with its address on the SSL protocol.</summary>
    public static Akka.Actor.ActorPath OverTls(Akka.Actor.ActorPath path)
    {
        ArgumentNullException.ThrowIfNull(path);
        Akka.Actor.ActorPath tls = new Akka.Actor.RootActorPath(OverTls(path.Address));
        foreach (var element in path.Elements)
        {
            tls /= element;
        }

        return tls;
    }

    /// <summary>The SSL setup of a transport actor system over <paramref name="credentials"/> (which must outlive the system).</summary>
    public static DotNettySslSetup Setup(PageServerTlsCredentials credentials)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        return new DotNettySslSetup(credentials.Certificate, suppressValidation: false, requireMutualAuthentication: true, validateCertificateHostname: false,
            customValidator: (certificate, chain, peer, _, log) => Accept(credentials, certificate, chain, peer, log));
    }

    private static bool Accept(PageServerTlsCredentials credentials, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate,
        System.Security.Cryptography.X509Certificates.X509Chain? chain, string? peer, ILoggingAdapter? log)
    {
        var refusal = credentials.Verify(certificate, chain, expectedName: null, role: "peer");
        if (refusal is not null)
        {
            log?.Error("TLS: refused the connection of {Peer}: {Reason}", peer ?? "an unknown peer", refusal);
            return false;
        }

        return true;
    }
}
