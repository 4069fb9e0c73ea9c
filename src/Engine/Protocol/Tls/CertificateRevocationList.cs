using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace LazyActors.Engine.Protocol.Tls;

/// <summary>
/// An X.509 CRL (RFC 5280 §5) as <c>--tls-cacrl</c> gives it: PEM (<c>X509 CRL</c> blocks, several allowed) or DER.
/// Each list must be signed by one of the trusted CAs (as GnuTLS verifies a CRL before using it); a peer certificate
/// whose serial it lists, for the same issuer, is refused.
/// </summary>
internal sealed class CertificateRevocationList
{
    private readonly HashSet<BigInteger> _revoked;

    private CertificateRevocationList(X500DistinguishedName issuer, HashSet<BigInteger> revoked)
    {
        Issuer = issuer;
        _revoked = revoked;
    }

    /// <summary>The CA that signed the list.</summary>
    public X500DistinguishedName Issuer { get; }

    /// <summary>Number of revoked serials.</summary>
    public int Count => _revoked.Count;

    /// <summary>True when <paramref name="certificate"/> was issued by <see cref="Issuer"/> and its serial is listed.</summary>
    public bool Revokes(X509Certificate2 certificate) =>
        certificate.IssuerName.RawData.AsSpan().SequenceEqual(Issuer.RawData)
        && _revoked.Contains(new BigInteger(certificate.SerialNumberBytes.Span, isUnsigned: false, isBigEndian: true));

    /// <summary>Reads every CRL in <paramref name="path"/> and verifies each against <paramref name="trustedCas"/>.</summary>
    /// <exception cref="InvalidDataException">The file holds no CRL, a malformed one, or one no trusted CA signed.</exception>
    public static IReadOnlyList<CertificateRevocationList> LoadFile(string path, X509Certificate2Collection trustedCas)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var lists = new List<CertificateRevocationList>();
        foreach (var der in DerBlocks(bytes))
        {
            lists.Add(Parse(path, der, trustedCas));
        }

        if (lists.Count == 0)
        {
            throw new InvalidDataException($"{path}: no certificate revocation list in the file (expected PEM 'X509 CRL' or DER)");
        }

        return lists;
    }

    private static IEnumerable<byte[]> DerBlocks(byte[] bytes)
    {
        if (bytes.Length > 0 && bytes[0] == 0x30)
        {
            yield return bytes;
            yield break;
        }

        string text = Encoding.ASCII.GetString(bytes);
        var rest = text.AsMemory();
        while (PemEncoding.TryFind(rest.Span, out var fields))
        {
            if (rest.Span[fields.Label].SequenceEqual("X509 CRL"))
            {
                yield return Convert.FromBase64String(rest.Span[fields.Base64Data].ToString());
            }

            rest = rest[fields.Location.End..];
        }
    }

    private static CertificateRevocationList Parse(string path, byte[] der, X509Certificate2Collection trustedCas)
    {
        try
        {
            var outer = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
            var tbsEncoded = outer.PeekEncodedValue();
            var tbs = outer.ReadSequence();
            string algorithm = outer.ReadSequence().ReadObjectIdentifier();
            byte[] signature = outer.ReadBitString(out _);

            if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
            {
                tbs.ReadInteger(); // version
            }

            tbs.ReadSequence(); // signature algorithm (repeated)
            var issuer = new X500DistinguishedName(tbs.ReadEncodedValue().Span);
            tbs.ReadEncodedValue(); // thisUpdate
            if (tbs.HasData && IsTime(tbs.PeekTag()))
            {
                tbs.ReadEncodedValue(); // nextUpdate
            }

            var revoked = new HashSet<BigInteger>();
            if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
            {
                var entries = tbs.ReadSequence();
                while (entries.HasData)
                {
                    revoked.Add(entries.ReadSequence().ReadInteger());
                }
            }

            var ca = FindIssuer(trustedCas, issuer)
                ?? throw new InvalidDataException($"{path}: CRL issuer '{issuer.Name}' is none of the trusted CAs");
            if (!SignatureValid(ca, algorithm, tbsEncoded.Span, signature))
            {
                throw new InvalidDataException($"{path}: CRL signature does not verify with the key of '{ca.Subject}'");
            }

            return new CertificateRevocationList(issuer, revoked);
        }
        catch (AsnContentException e)
        {
            throw new InvalidDataException($"{path}: malformed certificate revocation list: {e.Message}", e);
        }
    }

    private static bool IsTime(Asn1Tag tag) =>
        tag.HasSameClassAndValue(Asn1Tag.UtcTime) || tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime);

    private static X509Certificate2? FindIssuer(X509Certificate2Collection cas, X500DistinguishedName issuer)
    {
        foreach (var ca in cas)
        {
            if (ca.SubjectName.RawData.AsSpan().SequenceEqual(issuer.RawData))
            {
                return ca;
            }
        }

        return null;
    }

    private static bool SignatureValid(X509Certificate2 ca, string algorithm, ReadOnlySpan<byte> signed, byte[] signature)
    {
        switch (algorithm)
        {
            case "1.2.840.113549.1.1.5":
            case "1.2.840.113549.1.1.11":
            case "1.2.840.113549.1.1.12":
            case "1.2.840.113549.1.1.13":
            {
                using var rsa = ca.GetRSAPublicKey() ?? throw new InvalidDataException($"CRL signed with RSA but CA '{ca.Subject}' has no RSA key");
                return rsa.VerifyData(signed, signature, HashFor(algorithm), RSASignaturePadding.Pkcs1);
            }

            case "1.2.840.10045.4.1":
            case "1.2.840.10045.4.3.2":
            case "1.2.840.10045.4.3.3":
            case "1.2.840.10045.4.3.4":
            {
                using var ecdsa = ca.GetECDsaPublicKey() ?? throw new InvalidDataException($"CRL signed with ECDSA but CA '{ca.Subject}' has no EC key");
                return ecdsa.VerifyData(signed, signature, HashFor(algorithm), DSASignatureFormat.Rfc3279DerSequence);
            }

            default:
                throw new InvalidDataException($"CRL signature algorithm {algorithm} is not supported (RSA PKCS#1 v1.5 or ECDSA with SHA-1/2)");
        }
    }

    private static HashAlgorithmName HashFor(string algorithm) => algorithm switch
    {
        "1.2.840.113549.1.1.5" or "1.2.840.10045.4.1" => HashAlgorithmName.SHA1,
        "1.2.840.113549.1.1.11" or "1.2.840.10045.4.3.2" => HashAlgorithmName.SHA256,
        "1.2.840.113549.1.1.12" or "1.2.840.10045.4.3.3" => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };
}
