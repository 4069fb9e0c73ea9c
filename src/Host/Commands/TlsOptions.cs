using System.CommandLine;
using LazyActors.Engine.Protocol.Tls;

namespace LazyActors.Host.Commands;

/// <summary>CRIU's TLS options, shared by <c>lazy-pages --page-server</c> (client) and <c>page-server</c> (server).</summary>
internal sealed class TlsOptions
{
    private readonly Option<bool> _tls = new("--tls") { Description = "Wrap the page-server connection in TLS with X.509 certificates (mutual authentication), as CRIU's --tls." };
    private readonly Option<string?> _caCert = new("--tls-cacert") { Description = $"Trusted CA certificates (PEM; default {PageServerTlsSettings.DefaultCaCertificatePath})." };
    private readonly Option<string?> _caCrl = new("--tls-cacrl") { Description = $"Certificate revocation list (PEM; default {PageServerTlsSettings.DefaultCaRevocationListPath}, used when readable)." };
    private readonly Option<string?> _cert = new("--tls-cert") { Description = $"This side's certificate (PEM; default {PageServerTlsSettings.DefaultCertificatePath})." };
    private readonly Option<string?> _key = new("--tls-key") { Description = $"This side's private key (PEM; default {PageServerTlsSettings.DefaultPrivateKeyPath})." };
    private readonly Option<bool> _noCnVerify = new("--tls-no-cn-verify") { Description = "Do not check that the peer's certificate names --address." };

    public IEnumerable<Option> All => [_tls, _caCert, _caCrl, _cert, _key, _noCnVerify];

    /// <summary>The settings when --tls was given, else null (the other --tls-* options are then ignored, as in CRIU).</summary>
    public PageServerTlsSettings? Read(ParseResult parse) => parse.GetValue(_tls)
        ? new PageServerTlsSettings
        {
            CaCertificatePath = parse.GetValue(_caCert),
            CaRevocationListPath = parse.GetValue(_caCrl),
            CertificatePath = parse.GetValue(_cert),
            PrivateKeyPath = parse.GetValue(_key),
            VerifyPeerName = !parse.GetValue(_noCnVerify),
        }
        : null;
}
