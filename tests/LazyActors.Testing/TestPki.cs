using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LazyActors.Engine.Protocol.Tls;

namespace LazyActors.Testing;

/// <summary>
/// A throwaway PKI for TLS tests, written as PEM files the way CRIU expects them (<c>--tls-cacert</c>,
/// <c>--tls-cert</c>, <c>--tls-key</c>, <c>--tls-cacrl</c>): CAs and certificates issued by them, ECDSA P-256, valid
/// for a day.
/// </summary>
public sealed class TestPki
{
    private readonly string _directory;

    public TestPki(string directory)
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
    }

    /// <summary>A certificate authority: its certificate file and what it needs to issue.</summary>
    public sealed record Authority(string Name, string CertificatePath, X509Certificate2 Certificate, ECDsa Key);

    /// <summary>An issued certificate's files.</summary>
    public sealed record Identity(string Name, string CertificatePath, string KeyPath, X509Certificate2 Certificate);

    public Authority CreateAuthority(string name)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
        string path = Path.Combine(_directory, $"{name}.pem");
        File.WriteAllText(path, certificate.ExportCertificatePem());
        return new Authority(name, path, certificate, key);
    }

    /// <summary>
    /// Issues a certificate for <paramref name="commonName"/> with the given subject alternative names (IP literals
    /// become IP SANs, anything else dNSName SANs; none = no SAN extension) and optional extended key usages.
    /// </summary>
    public Identity Issue(Authority ca, string name, string commonName, string[] altNames, params string[] extendedKeyUsages)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca.Certificate, true, false));
        if (altNames.Length > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (string altName in altNames)
            {
                if (IPAddress.TryParse(altName, out var ip))
                {
                    san.AddIpAddress(ip);
                }
                else
                {
                    san.AddDnsName(altName);
                }
            }

            request.CertificateExtensions.Add(san.Build());
        }

        if (extendedKeyUsages.Length > 0)
        {
            var oids = new OidCollection();
            foreach (string oid in extendedKeyUsages)
            {
                oids.Add(new Oid(oid));
            }

            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, false));
        }

        byte[] serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7f;
        using var issued = request.Create(ca.Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(ca.Key), DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), serial);
        string certPath = Path.Combine(_directory, $"{name}.pem");
        string keyPath = Path.Combine(_directory, $"{name}.key");
        File.WriteAllText(certPath, issued.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return new Identity(name, certPath, keyPath, X509Certificate2.CreateFromPemFile(certPath, keyPath));
    }

    /// <summary>Writes a CRL of <paramref name="ca"/> revoking <paramref name="revoked"/>; returns its path.</summary>
    public string RevocationList(Authority ca, params Identity[] revoked)
    {
        var builder = new CertificateRevocationListBuilder();
        foreach (var identity in revoked)
        {
            builder.AddEntry(identity.Certificate, DateTimeOffset.UtcNow.AddMinutes(-5));
        }

        byte[] der = builder.Build(ca.Certificate, BigInteger.One, DateTimeOffset.UtcNow.AddDays(1), HashAlgorithmName.SHA256);
        string path = Path.Combine(_directory, $"{ca.Name}.crl.pem");
        File.WriteAllText(path, PemEncoding.WriteString("X509 CRL", der));
        return path;
    }

    /// <summary>CRIU-style settings: this identity's certificate and key, trusting only <paramref name="trusted"/>.</summary>
    public static PageServerTlsSettings Settings(Identity identity, Authority trusted, bool verifyName = true, string? crl = null) => new()
    {
        CaCertificatePath = trusted.CertificatePath,
        CertificatePath = identity.CertificatePath,
        PrivateKeyPath = identity.KeyPath,
        CaRevocationListPath = crl,
        VerifyPeerName = verifyName,
    };
}
