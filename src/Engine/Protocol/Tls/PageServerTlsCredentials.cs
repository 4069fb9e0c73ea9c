using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LazyActors.Engine.Protocol.Tls;

/// <summary>
/// The files of <see cref="PageServerTlsSettings"/>, loaded once and checked (a missing or empty file fails here, naming
/// it, as CRIU fails before connecting), and the handshakes built on them with <see cref="SslStream"/> over the
/// connection's own byte stream. The peer is verified as CRIU does: its chain against the trusted CAs and CRLs, and,
/// unless <see cref="PageServerTlsSettings.VerifyPeerName"/> is off, its name (see <see cref="CertificateNameMatcher"/>).
/// Thread-safe; one instance serves any number of connections.
/// </summary>
public sealed class PageServerTlsCredentials : IDisposable
{
    private readonly X509Certificate2 _certificate;
    private readonly X509Certificate2Collection _intermediates;
    private readonly SslStreamCertificateContext _context;
    private readonly X509Certificate2Collection _trustAnchors;
    private readonly IReadOnlyList<CertificateRevocationList> _revocationLists;

    private PageServerTlsCredentials(
        PageServerTlsSettings settings, X509Certificate2 certificate, X509Certificate2Collection intermediates,
        X509Certificate2Collection trustAnchors, IReadOnlyList<CertificateRevocationList> revocationLists)
    {
        Settings = settings;
        _certificate = certificate;
        _intermediates = intermediates;
        _trustAnchors = trustAnchors;
        _revocationLists = revocationLists;
        _context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
    }

    /// <summary>The settings these credentials were loaded from.</summary>
    public PageServerTlsSettings Settings { get; }

    /// <summary>This side's certificate.</summary>
    public X509Certificate2 Certificate => _certificate;

    /// <summary>The CA certificates a peer's chain must end in.</summary>
    public X509Certificate2Collection TrustAnchors => _trustAnchors;

    /// <summary>Loads certificate, key, CAs and CRL as CRIU's <c>tls_x509_setup_creds</c> would.</summary>
    /// <exception cref="InvalidDataException">A file is missing, unreadable or holds nothing usable; the message names it.</exception>
    public static PageServerTlsCredentials Load(PageServerTlsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var trustAnchors = LoadTrustAnchors(settings);
        var (certificate, intermediates) = LoadCertificate(settings);
        IReadOnlyList<CertificateRevocationList> crls = [];
        string crlPath = settings.EffectiveCaRevocationListPath;
        if (IsReadable(crlPath))
        {
            crls = CertificateRevocationList.LoadFile(crlPath, trustAnchors);
        }
        else if (settings.CaRevocationListPath is not null)
        {
            throw new InvalidDataException($"{crlPath}: cannot read the certificate revocation list (--tls-cacrl)");
        }

        return new PageServerTlsCredentials(settings, certificate, intermediates, trustAnchors, crls);
    }

    /// <summary>
    /// Client handshake over <paramref name="inner"/>; the server's certificate must name <paramref name="peerName"/>
    /// (the address as given to connect, CRIU's <c>--address</c>) unless name verification is off.
    /// </summary>
    /// <exception cref="AuthenticationException">The handshake or the server's certificate failed; the message says why.</exception>
    public async Task<SslStream> AuthenticateAsClientAsync(Stream inner, string peerName, CancellationToken cancellationToken)
    {
        string? refusal = null;
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = peerName,
            ClientCertificateContext = _context,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                (refusal = Verify(certificate, chain, Settings.VerifyPeerName ? peerName : null, "server")) is null,
        };
        try
        {
            await ssl.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new AuthenticationException(refusal ?? $"TLS handshake failed: {e.Message}", e);
        }
    }

    /// <summary>
    /// Server handshake over <paramref name="inner"/>; the client must present a certificate from a trusted CA, naming
    /// <paramref name="ownAddress"/> (the server's listen address, as CRIU checks) when that is given and name
    /// verification is on.
    /// </summary>
    /// <exception cref="AuthenticationException">The handshake failed or the client was refused; the message says why.</exception>
    public async Task<SslStream> AuthenticateAsServerAsync(Stream inner, string? ownAddress, CancellationToken cancellationToken)
    {
        string? refusal = null;
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = _context,
            ClientCertificateRequired = true,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                (refusal = Verify(certificate, chain, Settings.VerifyPeerName ? ownAddress : null, "client")) is null,
        };
        try
        {
            await ssl.AuthenticateAsServerAsync(options, cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new AuthenticationException(refusal ?? $"TLS handshake failed: {e.Message}", e);
        }
    }

    /// <summary>
    /// Why <paramref name="presented"/> is refused, or null when it is accepted: chain to a trusted CA (with the
    /// intermediates the peer sent), no certificate of the chain revoked, and the name when <paramref name="expectedName"/> is given.
    /// </summary>
    internal string? Verify(X509Certificate? presented, X509Chain? presentedChain, string? expectedName, string role)
    {
        if (presented is null)
        {
            return $"the {role} sent no certificate";
        }

        var certificate = presented as X509Certificate2 ?? new X509Certificate2(presented); // owned by the SslStream
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_trustAnchors);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (presentedChain is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(presentedChain.ChainPolicy.ExtraStore);
            foreach (var element in presentedChain.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        if (!chain.Build(certificate))
        {
            var problems = chain.ChainStatus.Select(s => string.IsNullOrWhiteSpace(s.StatusInformation) ? s.Status.ToString() : s.StatusInformation.Trim());
            return $"the {role} certificate '{certificate.Subject}' does not verify against the trusted CAs: {string.Join("; ", problems)}";
        }

        foreach (var element in chain.ChainElements)
        {
            foreach (var crl in _revocationLists)
            {
                if (crl.Revokes(element.Certificate))
                {
                    return $"the {role} certificate '{element.Certificate.Subject}' (serial {element.Certificate.SerialNumber}) is revoked by the CRL of '{crl.Issuer.Name}'";
                }
            }
        }

        if (expectedName is not null && !CertificateNameMatcher.Matches(certificate, expectedName))
        {
            return $"the {role} certificate '{certificate.Subject}' does not name '{expectedName}' (no matching IP/DNS subject alternative name or CN; --tls-no-cn-verify skips this check)";
        }

        return null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _certificate.Dispose();
        foreach (var certificate in _intermediates)
        {
            certificate.Dispose();
        }
    }

    private static X509Certificate2Collection LoadTrustAnchors(PageServerTlsSettings settings)
    {
        var anchors = new X509Certificate2Collection();
        string path = settings.EffectiveCaCertificatePath;
        if (settings.CaCertificatePath is null)
        {
            using var store = new X509Store(StoreName.Root, StoreLocation.LocalMachine);
            store.Open(OpenFlags.ReadOnly | OpenFlags.OpenExistingOnly);
            anchors.AddRange(store.Certificates);
            if (IsReadable(path))
            {
                anchors.AddRange(ReadCertificates(path, "CA certificate file"));
            }

            return anchors;
        }

        if (!File.Exists(path))
        {
            throw new InvalidDataException($"{path}: CA certificate file (--tls-cacert) does not exist");
        }

        anchors.AddRange(ReadCertificates(path, "CA certificate file (--tls-cacert)"));
        if (anchors.Count == 0)
        {
            throw new InvalidDataException($"{path}: no CA certificate in the file (--tls-cacert)");
        }

        return anchors;
    }

    private static (X509Certificate2 Certificate, X509Certificate2Collection Intermediates) LoadCertificate(PageServerTlsSettings settings)
    {
        string certPath = settings.EffectiveCertificatePath;
        string keyPath = settings.EffectivePrivateKeyPath;
        foreach (var (path, what) in new[] { (certPath, "certificate (--tls-cert)"), (keyPath, "private key (--tls-key)") })
        {
            if (!File.Exists(path))
            {
                throw new InvalidDataException($"{path}: {what} does not exist");
            }
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(certPath, keyPath);
        }
        catch (CryptographicException e)
        {
            throw new InvalidDataException($"{certPath} / {keyPath}: cannot load the certificate and private key pair: {e.Message}", e);
        }

        var all = ReadCertificates(certPath, "certificate (--tls-cert)");
        var intermediates = new X509Certificate2Collection();
        foreach (var other in all)
        {
            if (other.Thumbprint == certificate.Thumbprint)
            {
                other.Dispose();
            }
            else
            {
                intermediates.Add(other);
            }
        }

        return (certificate, intermediates);
    }

    private static X509Certificate2Collection ReadCertificates(string path, string what)
    {
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPemFile(path);
        }
        catch (CryptographicException e)
        {
            throw new InvalidDataException($"{path}: {what} is not valid PEM: {e.Message}", e);
        }

        return collection;
    }

    private static bool IsReadable(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
