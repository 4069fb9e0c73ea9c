using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Protocol.Tls;
using LazyActors.Engine.Tests.Protocol.Support;
using LazyActors.Testing;
using Microsoft.Extensions.Logging;
using Xunit;

namespace LazyActors.Engine.Tests.Protocol;

/// <summary>TLS as CRIU's --tls options configure it, our client against our server, with a throwaway PKI.</summary>
public sealed class PageServerTlsTests : IDisposable
{
    private const int PageSize = 4096;
    private const int Pid = 300;
    private const ulong Area = 0x20000;
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly ScratchDirectory _dir = new();
    private readonly TestPki _pki;
    private readonly TestPki.Authority _ca;
    private readonly TestPki.Identity _server;
    private readonly TestPki.Identity _client;
    private readonly LazyPageStore _store;

    public PageServerTlsTests()
    {
        _pki = new TestPki(_dir.CreateSub("pki"));
        _ca = _pki.CreateAuthority("test-ca");
        _server = _pki.Issue(_ca, "server", "page-server", ["127.0.0.1", "localhost"]);
        _client = _pki.Issue(_ca, "client", "lazy-client", ["127.0.0.1"]);
        string images = _dir.CreateSub("images");
        TestCheckpoint.Write(images, new TestCheckpoint.TaskSpec(Pid, [new(Area, 8, PageFlags.Lazy | PageFlags.Present)]));
        _store = LazyPageStore.Open(images);
    }

    public void Dispose()
    {
        _store.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task Mutual_TLS_serves_pages_and_closes_with_status_zero()
    {
        var log = new LogCapture();
        await using var server = StartServer(TestPki.Settings(_server, _ca), "127.0.0.1", log);
        var ended = LazyPageServerTests.EndedSessions(server);
        using var credentials = PageServerTlsCredentials.Load(TestPki.Settings(_client, _ca));

        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", server.LocalEndPoint.Port, new PageServerClientOptions { Tls = credentials });
        var buffer = new byte[8 * PageSize];
        await client.GetAllPagesAsync(Pid, Area, 8, buffer).AsTask().WaitAsync(Bound);
        await client.CloseAsync().WaitAsync(Bound);

        Assert.All(Enumerable.Range(0, 8), k => Assert.Equal(TestCheckpoint.Fill(Pid, Area + ((ulong)k * PageSize)), buffer[k * PageSize]));
        Assert.StartsWith("Tls1", client.TlsSession);
        var result = await ended.NextAsync(Bound);
        Assert.Equal(PageServerSessionEnd.Closed, result.End);
        Assert.True(log.Contains(LogLevel.Information, "CN=lazy-client"));
    }

    [Fact]
    public async Task A_client_without_a_certificate_is_refused_and_logged()
    {
        var log = new LogCapture();
        await using var server = StartServer(TestPki.Settings(_server, _ca), "127.0.0.1", log);
        var ended = LazyPageServerTests.EndedSessions(server);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.LocalEndPoint);
        await using var ssl = new SslStream(new NetworkStream(socket), false, (_, _, _, _) => true);

        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "127.0.0.1" });
            await ssl.WriteAsync(Get(1));
            // TLS 1.3 finishes the client's handshake before the server judges its certificate: the refusal shows here
            int read = await ssl.ReadAsync(new byte[32]).AsTask().WaitAsync(Bound);
            Assert.Fail($"the server answered ({read} bytes) a client without a certificate");
        });

        Assert.Contains("the client sent no certificate", await log.WaitForAsync(LogLevel.Error, "Refused TLS client", Bound));
        Assert.Equal(PageServerSessionEnd.TlsRefused, (await ended.NextAsync(Bound)).End);
    }

    [Fact]
    public async Task A_client_certificate_from_another_CA_is_refused_and_logged()
    {
        var otherCa = _pki.CreateAuthority("other-ca");
        var stranger = _pki.Issue(otherCa, "stranger", "lazy-client", ["127.0.0.1"]);
        var log = new LogCapture();
        await using var server = StartServer(TestPki.Settings(_server, _ca), "127.0.0.1", log);
        using var credentials = PageServerTlsCredentials.Load(TestPki.Settings(stranger, _ca)); // trusts the right CA for the server

        var error = await Assert.ThrowsAsync<PageServerException>(() => ConnectAndGetAsync(server, credentials, "127.0.0.1"));

        Assert.Contains($"127.0.0.1:{server.LocalEndPoint.Port}", error.Message);
        Assert.Contains("does not verify against the trusted CAs", await log.WaitForAsync(LogLevel.Error, "Refused TLS client", Bound));
    }

    [Fact]
    public async Task A_revoked_client_certificate_is_refused()
    {
        string crl = _pki.RevocationList(_ca, _client);
        var log = new LogCapture();
        await using var server = StartServer(TestPki.Settings(_server, _ca, crl: crl), "127.0.0.1", log);
        using var credentials = PageServerTlsCredentials.Load(TestPki.Settings(_client, _ca));

        await Assert.ThrowsAsync<PageServerException>(() => ConnectAndGetAsync(server, credentials, "127.0.0.1"));

        Assert.Contains("is revoked by the CRL of 'CN=test-ca'", await log.WaitForAsync(LogLevel.Error, "Refused TLS client", Bound));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_server_checks_the_client_certificate_against_its_own_address_unless_cn_verify_is_off(bool verify)
    {
        var unnamed = _pki.Issue(_ca, "unnamed", "lazy-client", []); // CN only, no SAN: does not name 127.0.0.1
        var log = new LogCapture();
        await using var server = StartServer(TestPki.Settings(_server, _ca, verifyName: verify), "127.0.0.1", log);
        using var credentials = PageServerTlsCredentials.Load(TestPki.Settings(unnamed, _ca));

        if (verify)
        {
            await Assert.ThrowsAsync<PageServerException>(() => ConnectAndGetAsync(server, credentials, "127.0.0.1"));
            Assert.Contains("does not name '127.0.0.1'", await log.WaitForAsync(LogLevel.Error, "Refused TLS client", Bound));
        }
        else
        {
            Assert.Equal(1, await ConnectAndGetAsync(server, credentials, "127.0.0.1"));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_client_checks_the_server_certificate_against_the_address_it_dialled_unless_cn_verify_is_off(bool verify)
    {
        var ipOnly = _pki.Issue(_ca, "ip-only", "page-server", ["127.0.0.1"]);
        await using var server = StartServer(TestPki.Settings(ipOnly, _ca), null, new LogCapture());
        using var credentials = PageServerTlsCredentials.Load(TestPki.Settings(_client, _ca, verifyName: verify));

        if (verify)
        {
            var error = await Assert.ThrowsAsync<PageServerException>(() => ConnectAndGetAsync(server, credentials, "localhost"));
            Assert.Contains("the server certificate 'CN=page-server' does not name 'localhost'", error.Message);
        }
        else
        {
            Assert.Equal(1, await ConnectAndGetAsync(server, credentials, "localhost"));
        }
    }

    [Fact]
    public void Peer_names_match_as_GnuTLS_matches_them()
    {
        var both = _pki.Issue(_ca, "both", "cn.example.org", ["10.1.2.3", "host.example.org"]).Certificate;
        var cnOnly = _pki.Issue(_ca, "cn-only", "127.0.0.1", []).Certificate;
        var ipSanOnly = _pki.Issue(_ca, "ip-san", "name.example.org", ["10.9.9.9"]).Certificate;
        var clientOnly = _pki.Issue(_ca, "client-eku", "127.0.0.1", [], ClientAuth).Certificate;
        var wildcard = _pki.Issue(_ca, "wild", "x", ["*.pages.example.org", "*.org"]).Certificate;

        Assert.True(CertificateNameMatcher.Matches(both, "10.1.2.3"));
        Assert.True(CertificateNameMatcher.Matches(both, "HOST.example.org"));
        Assert.False(CertificateNameMatcher.Matches(both, "cn.example.org")); // a dNSName SAN exists: no CN fallback
        Assert.True(CertificateNameMatcher.Matches(cnOnly, "127.0.0.1")); // GnuTLS falls back to the CN for an IP too
        Assert.True(CertificateNameMatcher.Matches(ipSanOnly, "name.example.org")); // no dNSName SAN: CN counts
        Assert.False(CertificateNameMatcher.Matches(clientOnly, "127.0.0.1")); // CN only for certificates fit for a TLS server
        Assert.True(CertificateNameMatcher.Matches(wildcard, "a.pages.example.org"));
        Assert.False(CertificateNameMatcher.Matches(wildcard, "a.b.pages.example.org"));
        Assert.False(CertificateNameMatcher.Matches(wildcard, "example.org")); // "*.org" has too few labels
    }

    [Fact]
    public void Missing_or_empty_files_fail_at_load_naming_the_file()
    {
        var missing = Assert.Throws<InvalidDataException>(() => PageServerTlsCredentials.Load(TestPki.Settings(_client, _ca) with { CertificatePath = _dir.Sub("nope.pem") }));
        Assert.Contains("nope.pem", missing.Message);
        Assert.Contains("--tls-cert", missing.Message);

        string empty = _dir.Sub("empty-ca.pem");
        File.WriteAllText(empty, string.Empty);
        var noCa = Assert.Throws<InvalidDataException>(() => PageServerTlsCredentials.Load(TestPki.Settings(_client, _ca) with { CaCertificatePath = empty }));
        Assert.Contains("no CA certificate", noCa.Message);

        var noCrl = Assert.Throws<InvalidDataException>(() => PageServerTlsCredentials.Load(TestPki.Settings(_client, _ca, crl: _dir.Sub("nope.crl"))));
        Assert.Contains("--tls-cacrl", noCrl.Message);

        var defaults = new PageServerTlsSettings();
        Assert.Equal("/etc/pki/criu/cert.pem", defaults.EffectiveCertificatePath);
        Assert.Equal("/etc/pki/criu/private/key.pem", defaults.EffectivePrivateKeyPath);
        Assert.Equal("/etc/pki/CA/cacert.pem", defaults.EffectiveCaCertificatePath);
        Assert.Equal("/etc/pki/CA/cacrl.pem", defaults.EffectiveCaRevocationListPath);
    }

    private LazyPageServer StartServer(PageServerTlsSettings settings, string? clientName, LogCapture log)
    {
        var credentials = PageServerTlsCredentials.Load(settings);
        return LazyPageServer.Start(_store, new IPEndPoint(IPAddress.Loopback, 0), new LazyPageServerOptions { Tls = credentials, TlsClientName = clientName }, log.Logger);
    }

    /// <summary>Connects and fetches one page; a refusal may show at the handshake or (TLS 1.3) at the first reply.</summary>
    private static async Task<int> ConnectAndGetAsync(LazyPageServer server, PageServerTlsCredentials credentials, string host)
    {
        await using var client = await PageServerClient.ConnectAsync(host, server.LocalEndPoint.Port, new PageServerClientOptions { Tls = credentials, ReplyTimeout = TimeSpan.FromSeconds(10) });
        return await client.GetPagesAsync(Pid, Area, 1, new byte[PageSize]).AsTask().WaitAsync(Bound);
    }

    private static byte[] Get(ulong pages)
    {
        var bytes = new byte[32];
        PageServerIov.Get(Pid, Area, pages).WriteTo(bytes);
        return bytes;
    }
}
