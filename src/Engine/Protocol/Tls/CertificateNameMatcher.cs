using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace LazyActors.Engine.Protocol.Tls;

/// <summary>
/// Does a certificate name a peer, by GnuTLS's rules (<c>gnutls_x509_crt_check_hostname2</c>, what CRIU's
/// <c>gnutls_certificate_verify_peers3</c> applies to <c>--address</c>): an IP literal matches an IP address SAN;
/// failing that (and for names) a dNSName SAN; only a certificate without any dNSName SAN that allows the TLS server
/// purpose falls back to its single CN. Comparison ignores ASCII case; a wildcard must be the whole leftmost label of a
/// name with at least three labels and stands for exactly one label.
/// </summary>
internal static class CertificateNameMatcher
{
    private const string SubjectAltNameOid = "2.5.29.17";
    private const string ExtendedKeyUsageOid = "2.5.29.37";
    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    private const string AnyExtendedKeyUsageOid = "2.5.29.37.0";
    private const string CommonNameOid = "2.5.4.3";

    public static bool Matches(X509Certificate2 certificate, string name)
    {
        var san = SubjectAltNames(certificate);
        if (IsIpLiteral(name, out var address) && san is not null)
        {
            foreach (var ip in san.EnumerateIPAddresses())
            {
                if (ip.Equals(address))
                {
                    return true;
                }
            }
        }

        bool sawDnsName = false;
        if (san is not null)
        {
            foreach (string dnsName in san.EnumerateDnsNames())
            {
                sawDnsName = true;
                if (NameMatches(dnsName, name))
                {
                    return true;
                }
            }
        }

        if (sawDnsName || !AllowsServerPurpose(certificate))
        {
            return false;
        }

        string? commonName = SingleCommonName(certificate);
        return commonName is not null && NameMatches(commonName, name);
    }

    /// <summary>GnuTLS treats a name with a colon as IPv6 and anything inet_aton accepts as IPv4.</summary>
    private static bool IsIpLiteral(string name, out IPAddress address)
    {
        if (IPAddress.TryParse(name, out var parsed)
            && (name.Contains(':', StringComparison.Ordinal) ? parsed.AddressFamily == AddressFamily.InterNetworkV6 : parsed.AddressFamily == AddressFamily.InterNetwork))
        {
            address = parsed;
            return true;
        }

        address = IPAddress.None;
        return false;
    }

    private static X509SubjectAlternativeNameExtension? SubjectAltNames(X509Certificate2 certificate)
    {
        var extension = certificate.Extensions[SubjectAltNameOid];
        return extension switch
        {
            null => null,
            X509SubjectAlternativeNameExtension typed => typed,
            _ => new X509SubjectAlternativeNameExtension(extension.RawData, extension.Critical),
        };
    }

    private static bool AllowsServerPurpose(X509Certificate2 certificate)
    {
        var extension = certificate.Extensions[ExtendedKeyUsageOid];
        if (extension is null)
        {
            return true; // no key purpose: any
        }

        var usage = extension as X509EnhancedKeyUsageExtension ?? new X509EnhancedKeyUsageExtension(extension, extension.Critical);
        foreach (var oid in usage.EnhancedKeyUsages)
        {
            if (oid.Value is ServerAuthOid or AnyExtendedKeyUsageOid)
            {
                return true;
            }
        }

        return false;
    }

    private static string? SingleCommonName(X509Certificate2 certificate)
    {
        string? found = null;
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.HasMultipleElements || rdn.GetSingleElementType().Value != CommonNameOid)
            {
                continue;
            }

            if (found is not null)
            {
                return null; // RFC 6125: exactly one CN
            }

            found = rdn.GetSingleElementValue();
        }

        return found;
    }

    private static bool NameMatches(string certificateName, string name)
    {
        if (certificateName.Length == 0 || certificateName.Any(c => c < 0x20 || c > 0x7e))
        {
            return false;
        }

        if (string.Equals(certificateName, name, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (!certificateName.StartsWith("*.", StringComparison.Ordinal))
        {
            return false;
        }

        string suffix = certificateName[1..]; // ".example.org"
        if (suffix.IndexOf('.', 1) < 0 || suffix.EndsWith('.'))
        {
            return false; // fewer than three labels
        }

        int dot = name.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && string.Equals(name[dot..], suffix, StringComparison.OrdinalIgnoreCase);
    }
}
