namespace LazyActors.Engine.Protocol.Tls;

/// <summary>
/// TLS for the page-server connection, as CRIU's <c>--tls</c> options configure it; used by both the client
/// (<c>lazy-pages --page-server</c>) and the server (<c>page-server</c>). Null paths mean CRIU's defaults.
/// <para>
/// Facts this relies on, read from criu/tls.c (CRIU v4.2-22-g2cf8f13ca, the binary in ../shared/tools) and GnuTLS 3.7
/// (lib/x509/hostname-verify.c), and checked against that binary where the tests say so:
/// </para>
/// <list type="bullet">
/// <item>Default files (SYSCONFDIR = /etc, visible in the binary's strings): <c>/etc/pki/CA/cacert.pem</c>,
/// <c>/etc/pki/CA/cacrl.pem</c>, <c>/etc/pki/criu/cert.pem</c>, <c>/etc/pki/criu/private/key.pem</c>, all PEM.</item>
/// <item>Trust: without <c>--tls-cacert</c> the system trust store plus the default CA file when it holds certificates;
/// with <c>--tls-cacert FILE</c> only that file, and no certificate in it is an error.</item>
/// <item>CRL: used whenever the (default or given) file is readable; a given file that cannot be read is an error.
/// A peer certificate listed in a CRL of its issuer is refused.</item>
/// <item>Both sides load a certificate and key and fail without them, so a CRIU client always presents one; the
/// server requires a client certificate (GNUTLS_CERT_REQUIRE) and does not advertise its CA names.</item>
/// <item>After the handshake each side verifies the peer's chain against its trusted CAs; any problem drops the
/// connection. Extended key usage is not checked.</item>
/// <item>Name check (<see cref="VerifyPeerName"/>, off with <c>--tls-no-cn-verify</c>): the peer certificate must
/// match CRIU's <c>--address</c>. The client checks the server against the address it connected to; the server checks
/// the client against its own listen address, and checks no name when it was started without one. Matching follows
/// GnuTLS: an IP literal matches an IP address SAN, else (also for an IP) a dNSName SAN, and only when the certificate
/// has no dNSName SAN and allows the TLS server purpose (no EKU, serverAuth or anyExtendedKeyUsage) its single CN.
/// Wildcards only as the whole leftmost label of a name with at least three labels.</item>
/// <item>Version and ciphers: GnuTLS's default priority (TLS 1.3 and 1.2 here); SslStream uses the OS defaults
/// (OpenSSL 3: TLS 1.3 and 1.2), so the two meet on TLS 1.3.</item>
/// <item>The same byte stream is wrapped: no STARTTLS or hello; the first application bytes are the first request.
/// After a successful close both sides send close_notify and wait for the peer's (gnutls_bye with SHUT_RDWR); the
/// server then expects EOF on the raw socket.</item>
/// </list>
/// </summary>
public sealed record PageServerTlsSettings
{
    /// <summary>CRIU's default <c>--tls-cacert</c>.</summary>
    public const string DefaultCaCertificatePath = "/etc/pki/CA/cacert.pem";

    /// <summary>CRIU's default <c>--tls-cacrl</c>.</summary>
    public const string DefaultCaRevocationListPath = "/etc/pki/CA/cacrl.pem";

    /// <summary>CRIU's default <c>--tls-cert</c>.</summary>
    public const string DefaultCertificatePath = "/etc/pki/criu/cert.pem";

    /// <summary>CRIU's default <c>--tls-key</c>.</summary>
    public const string DefaultPrivateKeyPath = "/etc/pki/criu/private/key.pem";

    /// <summary><c>--tls-cacert</c>: PEM file of the CA certificates to trust (only these); null = system trust + default file.</summary>
    public string? CaCertificatePath { get; init; }

    /// <summary><c>--tls-cacrl</c>: PEM (or DER) certificate revocation list; null = the default file when readable.</summary>
    public string? CaRevocationListPath { get; init; }

    /// <summary><c>--tls-cert</c>: PEM certificate of this side (optionally followed by its intermediates); null = default.</summary>
    public string? CertificatePath { get; init; }

    /// <summary><c>--tls-key</c>: PEM private key of that certificate (PKCS#1, PKCS#8 or SEC1, unencrypted); null = default.</summary>
    public string? PrivateKeyPath { get; init; }

    /// <summary>False for <c>--tls-no-cn-verify</c>: the peer's chain is still verified, its name is not.</summary>
    public bool VerifyPeerName { get; init; } = true;

    /// <summary>The certificate file in use (given or default).</summary>
    public string EffectiveCertificatePath => CertificatePath ?? DefaultCertificatePath;

    /// <summary>The key file in use (given or default).</summary>
    public string EffectivePrivateKeyPath => PrivateKeyPath ?? DefaultPrivateKeyPath;

    /// <summary>The CA file in use (given or default).</summary>
    public string EffectiveCaCertificatePath => CaCertificatePath ?? DefaultCaCertificatePath;

    /// <summary>The CRL file in use (given or default).</summary>
    public string EffectiveCaRevocationListPath => CaRevocationListPath ?? DefaultCaRevocationListPath;
}
