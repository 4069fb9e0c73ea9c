using System.Net.Sockets;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Protocol.Tls;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Tests.Protocol.Support;
using LazyActors.Testing;
using LazyActors.Tools.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Engine.Tests.Protocol;

/// <summary>
/// Our client against the real <c>criu page-server --lazy-pages</c> (CRIU 4.2) serving copies of the normal-dump
/// fixtures: every lazy page of every task, CRIU's clamping against our index, the raw wire facts, and TLS with our
/// throwaway PKI. Skipped with the reason where <c>../shared/tools/criu-4.2/setup</c> is absent.
/// </summary>
public sealed class RealCriuPageServerTests(ITestOutputHelper output)
{
    private const int PageSize = (int)PageGeometry.PageSize;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>Fixtures CRIU's page-server can serve: normal dumps, whose lazy pages have data (not the lazy dump).</summary>
    public static TheoryData<string> NormalDumps()
    {
        var data = new TheoryData<string>();
        foreach (string label in FixtureCatalog.Labels())
        {
            using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf(label));
            if (checkpoint.Tasks.Any(t => t.Pagemap.Any(r => r.IsLazy && r.IsPresent)))
            {
                data.Add(label);
            }
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(NormalDumps))]
    public async Task Our_client_fetches_every_lazy_page_from_criu_which_clamps_exactly_where_our_server_does(string label)
    {
        Skip.If(RealCriu.ToolDirectory() is null, RealCriu.MissingReason);
        using var scratch = new ScratchDirectory("lpcriu");
        string images = CopyImages(FixtureCatalog.PathOf(label), scratch.CreateSub("images"));
        using var checkpoint = Checkpoint.Open(images);
        var index = LazyPagesIndex.Build(checkpoint);
        using var pipes = new PipeMaxSizeScope();
        using var criu = await CriuPageServerProcess.StartAsync(images, scratch.Sub("page-server.log"));

        await using (var client = await PageServerClient.ConnectAsync("127.0.0.1", criu.Port, new PageServerClientOptions { ReplyTimeout = TimeSpan.FromSeconds(20) }))
        {
            var buffer = new byte[2 * LazyPagesIndex.PipePages * PageSize];
            int runs = 0;
            foreach (int pid in index.Pids)
            {
                foreach (var run in index.RunsOf(pid).Where(r => r.HasData))
                {
                    int got = await client.GetPagesAsync(pid, run.Vaddr, 2 * LazyPagesIndex.PipePages, buffer).AsTask().WaitAsync(Bound);
                    Assert.True((ulong)got == run.NrPages, $"pid {pid} 0x{run.Vaddr:x}: criu served {got} pages, our index says the run has {run.NrPages}");
                    runs++;
                }
            }

            long pages = await LazyPagesVerifier.FetchAndVerifyAllAsync(client, checkpoint, Bound);
            await client.CloseAsync().WaitAsync(Bound);
            output.WriteLine($"{label}: {runs} runs clamped as our index predicts; {pages} lazy pages fetched from criu page-server, all equal to pages-*.img");
        }

        Assert.Equal(0, await criu.WaitForExitAsync(Bound));
    }

    [SkippableFact]
    public async Task On_a_real_dump_with_more_than_1024_lazy_pages_criu_cuts_runs_at_its_1024_page_pipe_as_our_index_does()
    {
        Skip.If(RealCriu.ToolDirectory() is null, RealCriu.MissingReason);
        using var scratch = new ScratchDirectory("lpcriu");
        string images = scratch.CreateSub("images");
        await RealCriu.DumpStoppedShellAsync(images, scratch.Sub("workload.out"), scratch.Sub("dump.log"), stringBytes: 6_000_000);
        using var checkpoint = Checkpoint.Open(images);
        var index = LazyPagesIndex.Build(checkpoint);
        int pid = checkpoint.Tasks[0].Pid;
        var runs = index.RunsOf(pid).Where(r => r.HasData).ToList();
        Assert.Contains(runs.Zip(runs.Skip(1)), p => p.First.End == p.Second.Vaddr); // a cut inside contiguous memory: the pipe was full
        using var pipes = new PipeMaxSizeScope();
        using var criu = await CriuPageServerProcess.StartAsync(images, scratch.Sub("page-server.log"));

        await using (var client = await PageServerClient.ConnectAsync("127.0.0.1", criu.Port, new PageServerClientOptions { ReplyTimeout = TimeSpan.FromSeconds(20) }))
        {
            var buffer = new byte[2 * LazyPagesIndex.PipePages * PageSize];
            foreach (var run in runs)
            {
                int got = await client.GetPagesAsync(pid, run.Vaddr, 2 * LazyPagesIndex.PipePages, buffer).AsTask().WaitAsync(Bound);
                Assert.True((ulong)got == run.NrPages, $"0x{run.Vaddr:x}: criu served {got} pages, our index says the run has {run.NrPages}");
            }

            long pages = await LazyPagesVerifier.FetchAndVerifyAllAsync(client, checkpoint, Bound);
            await client.CloseAsync().WaitAsync(Bound);
            output.WriteLine($"real dump of pid {pid}: {runs.Count} runs ({string.Join(", ", runs.Where(r => r.NrPages > 64).Select(r => r.NrPages))} among them) clamped as our index predicts; {pages} lazy pages verified");
        }

        Assert.Equal(0, await criu.WaitForExitAsync(Bound));
    }

    [SkippableFact]
    public async Task Criu_echoes_the_padding_clamps_and_closes_without_a_reply_for_an_absent_page()
    {
        Skip.If(RealCriu.ToolDirectory() is null, RealCriu.MissingReason);
        using var scratch = new ScratchDirectory("lpcriu");
        string images = CopyImages(FixtureCatalog.PathOf(SingleAnon), scratch.CreateSub("images"));
        using var checkpoint = Checkpoint.Open(images);
        var index = LazyPagesIndex.Build(checkpoint);
        int pid = index.Pids.First(p => index.RunsOf(p).Any(r => r.HasData && r.NrPages > 1));
        var run = index.RunsOf(pid).First(r => r.HasData && r.NrPages > 1);
        using var pipes = new PipeMaxSizeScope();
        using var criu = await CriuPageServerProcess.StartAsync(images, scratch.Sub("page-server.log"));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync("127.0.0.1", criu.Port);
        await using var stream = new NetworkStream(socket);

        var get = new byte[32];
        (PageServerIov.Get(pid, run.Vaddr + PageSize, run.NrPages + 7) with { Padding = 0xdeadbeef }).WriteTo(get);
        await stream.WriteAsync(get);
        var header = new byte[32];
        await stream.ReadExactlyAsync(header).AsTask().WaitAsync(Bound);
        var reply = PageServerIov.ReadFrom(header);
        Assert.Equal(PageServerIov.PagesReplyCommand, reply.Command);
        Assert.Equal(0xdeadbeefu, reply.Padding);
        Assert.Equal(run.NrPages - 1, reply.NrPages);
        Assert.Equal(run.Vaddr + PageSize, reply.Vaddr);
        Assert.Equal((ulong)pid, reply.DstId);
        var data = new byte[(int)reply.NrPages * PageSize];
        await stream.ReadExactlyAsync(data).AsTask().WaitAsync(Bound);
        var task = checkpoint.GetTask(pid);
        byte[] file = await File.ReadAllBytesAsync(Path.Combine(images, task.PagemapFile!.PagesFileName));
        Assert.True(data.AsSpan(0, PageSize).SequenceEqual(LazyPagesVerifier.ExpectedPage(task, file, run.Vaddr + PageSize)));
        output.WriteLine($"criu: GET pid {pid} 0x{run.Vaddr + PageSize:x}+{run.NrPages + 7}p padding 0xdeadbeef -> {Convert.ToHexString(header).ToLowerInvariant()}");

        PageServerIov.Get(pid, 0x1000, 1).WriteTo(get);
        await stream.WriteAsync(get);
        Assert.Equal(0, await stream.ReadAsync(header).AsTask().WaitAsync(Bound)); // no reply: EOF
        Assert.Equal(1, await criu.WaitForExitAsync(Bound));
        Assert.Contains("no iovs found, zero pages", criu.Log);
    }

    [SkippableFact]
    public async Task Our_client_fetches_every_lazy_page_from_criu_over_mutual_TLS()
    {
        Skip.If(RealCriu.ToolDirectory() is null, RealCriu.MissingReason);
        using var scratch = new ScratchDirectory("lpcriu");
        var pki = new TestPki(scratch.CreateSub("pki"));
        var ca = pki.CreateAuthority("ca");
        var server = pki.Issue(ca, "criu-server", "criu-server", ["127.0.0.1"]);
        var client = pki.Issue(ca, "client", "lazy-client", ["127.0.0.1"]);
        string images = CopyImages(FixtureCatalog.PathOf(SingleAnon), scratch.CreateSub("images"));
        using var checkpoint = Checkpoint.Open(images);
        using var pipes = new PipeMaxSizeScope();
        using var criu = await CriuPageServerProcess.StartAsync(images, scratch.Sub("page-server.log"), CriuTls(ca, server));
        using var credentials = PageServerTlsCredentials.Load(TestPki.Settings(client, ca));

        await using (var connection = await PageServerClient.ConnectAsync("127.0.0.1", criu.Port, new PageServerClientOptions { Tls = credentials, ReplyTimeout = TimeSpan.FromSeconds(20) }))
        {
            long pages = await LazyPagesVerifier.FetchAndVerifyAllAsync(connection, checkpoint, Bound);
            await connection.CloseAsync().WaitAsync(Bound);
            output.WriteLine($"TLS with criu page-server: {connection.TlsSession}; {pages} lazy pages fetched and verified");
        }

        Assert.Equal(0, await criu.WaitForExitAsync(Bound));
        Assert.Contains("TLS handshake completed", criu.Log);
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Criu_checks_the_client_certificate_against_its_own_address_unless_no_cn_verify(bool noCnVerify)
    {
        Skip.If(RealCriu.ToolDirectory() is null, RealCriu.MissingReason);
        using var scratch = new ScratchDirectory("lpcriu");
        var pki = new TestPki(scratch.CreateSub("pki"));
        var ca = pki.CreateAuthority("ca");
        var server = pki.Issue(ca, "criu-server", "criu-server", ["127.0.0.1"]);
        var unnamed = pki.Issue(ca, "unnamed", "lazy-client", []); // CN only: does not name 127.0.0.1
        string images = CopyImages(FixtureCatalog.PathOf(SingleAnon), scratch.CreateSub("images"));
        using var checkpoint = Checkpoint.Open(images);
        var index = LazyPagesIndex.Build(checkpoint);
        int pid = index.Pids.First(p => index.RunsOf(p).Any(r => r.HasData));
        var run = index.RunsOf(pid).First(r => r.HasData);
        using var pipes = new PipeMaxSizeScope();
        string[] extra = noCnVerify ? [.. CriuTls(ca, server), "--tls-no-cn-verify"] : CriuTls(ca, server);
        using var criu = await CriuPageServerProcess.StartAsync(images, scratch.Sub("page-server.log"), extra);
        using var credentials = PageServerTlsCredentials.Load(TestPki.Settings(unnamed, ca));

        var fetch = FetchOneAsync(criu.Port, credentials, pid, run.Vaddr);
        if (noCnVerify)
        {
            Assert.Equal(1, await fetch);
            Assert.Equal(0, await criu.WaitForExitAsync(Bound));
        }
        else
        {
            var error = await Assert.ThrowsAsync<PageServerException>(() => fetch);
            Assert.NotEqual(0, await criu.WaitForExitAsync(Bound));
            string refusal = string.Join('\n', criu.Log.Split('\n').Where(l => l.Contains("tls", StringComparison.OrdinalIgnoreCase) || l.Contains("certificate", StringComparison.OrdinalIgnoreCase)));
            output.WriteLine($"criu refused a client certificate without the name 127.0.0.1:\n{refusal}\nour client saw: {error.Message}");
            Assert.Contains("Invalid certificate", criu.Log);
        }
    }

    [SkippableFact]
    public async Task Criu_refuses_a_client_certificate_from_another_CA()
    {
        Skip.If(RealCriu.ToolDirectory() is null, RealCriu.MissingReason);
        using var scratch = new ScratchDirectory("lpcriu");
        var pki = new TestPki(scratch.CreateSub("pki"));
        var ca = pki.CreateAuthority("ca");
        var other = pki.CreateAuthority("other-ca");
        var server = pki.Issue(ca, "criu-server", "criu-server", ["127.0.0.1"]);
        var stranger = pki.Issue(other, "stranger", "lazy-client", ["127.0.0.1"]);
        string images = CopyImages(FixtureCatalog.PathOf(SingleAnon), scratch.CreateSub("images"));
        using var checkpoint = Checkpoint.Open(images);
        var index = LazyPagesIndex.Build(checkpoint);
        int pid = index.Pids.First(p => index.RunsOf(p).Any(r => r.HasData));
        using var pipes = new PipeMaxSizeScope();
        using var criu = await CriuPageServerProcess.StartAsync(images, scratch.Sub("page-server.log"), CriuTls(ca, server));
        using var credentials = PageServerTlsCredentials.Load(TestPki.Settings(stranger, ca));

        await Assert.ThrowsAsync<PageServerException>(() => FetchOneAsync(criu.Port, credentials, pid, index.RunsOf(pid).First(r => r.HasData).Vaddr));

        Assert.NotEqual(0, await criu.WaitForExitAsync(Bound));
        Assert.Contains("Invalid certificate", criu.Log);
        output.WriteLine(string.Join('\n', criu.Log.Split('\n').Where(l => l.Contains("tls", StringComparison.OrdinalIgnoreCase) || l.Contains("certificate", StringComparison.OrdinalIgnoreCase))));
    }

    private static string SingleAnon => FixtureCatalog.CopiedPrefix + "single-anon";

    private static string[] CriuTls(TestPki.Authority ca, TestPki.Identity server) =>
        ["--tls", "--tls-cacert", ca.CertificatePath, "--tls-cert", server.CertificatePath, "--tls-key", server.KeyPath];

    private static async Task<int> FetchOneAsync(int port, PageServerTlsCredentials credentials, int pid, ulong vaddr)
    {
        await using var client = await PageServerClient.ConnectAsync("127.0.0.1", port, new PageServerClientOptions { Tls = credentials, ReplyTimeout = TimeSpan.FromSeconds(20) });
        int got = await client.GetPagesAsync(pid, vaddr, 1, new byte[PageSize]).AsTask().WaitAsync(Bound);
        await client.CloseAsync().WaitAsync(Bound);
        return got;
    }

    /// <summary>Copies the CRIU images (not the fixture's JSON/Markdown/sources) into a writable directory.</summary>
    private static string CopyImages(string fixture, string target)
    {
        foreach (string file in Directory.EnumerateFiles(fixture))
        {
            string name = Path.GetFileName(file);
            if (name.EndsWith(".img", StringComparison.Ordinal) || name == "stats-dump")
            {
                File.Copy(file, Path.Combine(target, name));
            }
        }

        return target;
    }
}
