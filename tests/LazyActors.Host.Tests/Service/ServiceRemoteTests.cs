using System.Globalization;
using System.Text.RegularExpressions;
using LazyActors.Engine.Configuration;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Tests.Service;

/// <summary>
/// A job whose lazy pages come from a page server (our <c>page-server</c> verb in its own process, on loopback), as
/// <c>lazy-pages --page-server</c> does: the restore simulator restores it through the service, every byte verified.
/// </summary>
public sealed partial class ServiceRemoteTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [SkippableFact]
    public async Task A_job_restores_from_a_page_server_every_byte_verified()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var scratch = new ScratchDirectory("svcr");
        var images = scratch.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 8L << 20, 0x2E40));
        using var server = StartPageServer(scratch, images, out var port, out _);
        await using var service = await ServiceProcess.StartAsync(scratch.Path, http: false);
        using var client = service.Client();
        try
        {
            var work = scratch.CreateSub("work");
            var job = await client.Jobs.StartJobAsync(new Proto.StartJobRequest
            {
                ImagesDir = images,
                WorkDir = work,
                PageServer = new Proto.PageServerSource { Address = "127.0.0.1", Port = (uint)port },
            }, deadline: DateTime.UtcNow.AddSeconds(30));
            Assert.Contains($"127.0.0.1:{port}", job.PageServer, StringComparison.Ordinal);

            ServiceRestores.AssertVerified(await ServiceRestores.RestoreAsync(images, work, TouchOrder.Rand));
            var (last, _) = await ServiceRestores.WatchAsync(client, job.Id);
            Assert.Equal(Proto.JobState.Completed, last.State);
            Assert.All(last.Tasks, t => Assert.Equal(t.TotalPages, t.CopiedByFaults + t.CopiedByPush));
        }
        finally
        {
            output.WriteLine(service.Output);
        }
    }

    /// <summary>
    /// Two jobs of one remote checkpoint restored at once read it through the shared page cache over one session: the
    /// page server (its own log) sends each lazy page once (plus the one page that probes its second connection), the
    /// cache counts one miss per page and serves the second restore from what the first fetched; every byte verified.
    /// </summary>
    [SkippableFact]
    public async Task Two_restores_of_one_remote_checkpoint_fetch_each_page_from_the_page_server_once()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var scratch = new ScratchDirectory("svcrc");
        var images = scratch.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 8L << 20, 0x2E41));
        using var server = StartPageServer(scratch, images, out var port, out var log);
        await using var service = await ServiceProcess.StartAsync(scratch.Path, http: true);
        using var client = service.Client();
        try
        {
            var works = new[] { scratch.CreateSub("one"), scratch.CreateSub("two") };
            var jobs = new List<Proto.Job>();
            foreach (var work in works)
            {
                jobs.Add(await client.Jobs.StartJobAsync(new Proto.StartJobRequest
                {
                    ImagesDir = images,
                    WorkDir = work,
                    PageServer = new Proto.PageServerSource { Address = "127.0.0.1", Port = (uint)port },
                }, deadline: DateTime.UtcNow.AddSeconds(30)));
            }

            var reports = await Task.WhenAll(works.Select(w => ServiceRestores.RestoreAsync(images, w, TouchOrder.Rand)));
            Assert.All(reports, ServiceRestores.AssertVerified);
            long lazyPages = 0;
            var ended = new List<Proto.Job>();
            foreach (var job in jobs)
            {
                var (last, _) = await ServiceRestores.WatchAsync(client, job.Id);
                Assert.Equal(Proto.JobState.Completed, last.State);
                Assert.All(last.Tasks, t => Assert.Equal(t.TotalPages, t.CopiedByFaults + t.CopiedByPush));
                lazyPages = last.Tasks.Sum(t => t.TotalPages);
                ended.Add(last);
            }

            using var http = new HttpClient { BaseAddress = service.Http, Timeout = TimeSpan.FromSeconds(20) };
            var metrics = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
            var misses = ServiceCacheTests.Sample(metrics, "lazy_actors_cache_misses");
            var hits = ServiceCacheTests.Sample(metrics, "lazy_actors_cache_hits");
            var sourceBytes = ServiceCacheTests.Sample(metrics, "lazy_actors_source_bytes");

            // The session ends once the last job let the cache's source go: then the server logs what it sent.
            var sessions = await SessionsOverAsync(log, TimeSpan.FromSeconds(30));
            var sent = sessions.Sum(s => s.Pages);
            output.WriteLine($"lazy pages per restore {lazyPages}; cache misses {misses}, hits {hits}; bytes from the source {sourceBytes}; " +
                $"page server: {sessions.Count} connection(s), {sent} page(s) sent");
            Assert.Equal(lazyPages, misses);
            Assert.True(hits >= lazyPages, $"the second restore took {hits} pages from the cache, fewer than its {lazyPages}");
            Assert.Equal(lazyPages * Environment.SystemPageSize, sourceBytes);

            // Each job's own counts, though both read over one session: between them each page came from the source once.
            ServiceCacheTests.AssertPerJobCounters(ended, metrics, lazyPages, output);

            // One shared fetcher: its main connection and (our server accepts more) the fault connection, opened with a
            // 1-page probe, and the further bulk connections of remote.bulk-connections (no probe on those).
            Assert.InRange(sessions.Count, 1, 1 + EngineSettings.Create(Path.GetTempPath()).Remote.BulkConnections);
            Assert.Equal(lazyPages + (sessions.Count > 1 ? 1 : 0), sent);
        }
        finally
        {
            output.WriteLine(service.Output);
            output.WriteLine(BackgroundVerb.ReadShared(log));
        }
    }

    /// <summary>
    /// A job over the Akka transport (<c>jobs start --page-server ... --transport akka</c>): the service gives it an actor
    /// system of its own with remoting, which asks our <c>page-server --transport akka</c> for the checkpoint (the job's
    /// images directory holds nothing) and fetches every lazy page over Akka.Remote; the restore simulator restores it,
    /// every byte verified. A second job names the source by its whole akka.tcp:// address. The job's own counters show
    /// every lazy page read from the source once, by fault or push.
    /// </summary>
    [SkippableFact]
    public async Task Jobs_restore_over_the_akka_transport_every_byte_verified()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var scratch = new ScratchDirectory("svca");
        var images = scratch.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 8L << 20, 0x2E42));
        using var server = StartPageServer(scratch, images, out var port, out var log, akka: true);
        await using var service = await ServiceProcess.StartAsync(scratch.Path, http: false);
        using var client = service.Client();
        try
        {
            var sources = new[]
            {
                new Proto.PageServerSource { Address = "127.0.0.1", Port = (uint)port, Transport = "akka" },
                new Proto.PageServerSource { Address = $"akka.tcp://lazy-source@127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}" },
            };
            foreach (var (source, n) in sources.Select((s, i) => (s, i)))
            {
                var nothing = scratch.CreateSub($"nothing-{n}");
                var work = scratch.CreateSub($"work-{n}");
                var job = await client.Jobs.StartJobAsync(new Proto.StartJobRequest { ImagesDir = nothing, WorkDir = work, PageServer = source },
                    deadline: DateTime.UtcNow.AddSeconds(60));
                Assert.Contains("Akka transport", job.Checkpoint, StringComparison.Ordinal);
                Assert.Contains($"akka.tcp://lazy-source@127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", job.Checkpoint, StringComparison.Ordinal);

                ServiceRestores.AssertVerified(await ServiceRestores.RestoreAsync(images, work, TouchOrder.Rand));
                var (last, _) = await ServiceRestores.WatchAsync(client, job.Id);
                Assert.Equal(Proto.JobState.Completed, last.State);
                Assert.All(last.Tasks, t => Assert.Equal(t.TotalPages, t.CopiedByFaults + t.CopiedByPush));
                var lazyPages = last.Tasks.Sum(t => t.TotalPages);
                output.WriteLine($"job {job.Id}: {lazyPages} lazy pages; bytes from the source {last.Counters.BytesFromSource}, by fault {last.Counters.PagesByFault}, by push {last.Counters.PagesByPush}");
                Assert.Equal(lazyPages, last.Counters.PagesByFault + last.Counters.PagesByPush);
                Assert.True(last.Counters.BytesFromSource >= lazyPages * Environment.SystemPageSize, $"job {job.Id} read {last.Counters.BytesFromSource} bytes from the source, less than its lazy pages");
                Assert.Equal(0, last.Counters.CacheMisses);
                Assert.Empty(Directory.EnumerateFileSystemEntries(nothing));
            }

            Assert.Contains("destination akka.tcp://lazy-actors@", BackgroundVerb.ReadShared(log), StringComparison.Ordinal);
        }
        finally
        {
            output.WriteLine(service.Output);
            output.WriteLine(BackgroundVerb.ReadShared(log));
        }
    }

    /// <summary>Our <c>page-server</c> verb on <paramref name="images"/>, on a free loopback port, logging (sessions
    /// included) to <paramref name="log"/>; started once it listens.</summary>
    private static BackgroundVerb StartPageServer(ScratchDirectory scratch, string images, out int port, out string log, bool akka = false)
    {
        var source = scratch.CreateSub("source");
        port = BackgroundVerb.FreePort();
        log = Path.Combine(source, "ps.log");
        string[] transport = akka ? ["--transport", "akka"] : [];
        var server = BackgroundVerb.Start(HostInvocation.Prefix(),
            ["page-server", "-D", images, "-W", source, "--address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--lazy-pages", "-v", "3", "-o", "ps.log", .. transport]);
        if (!server.WaitForLog(log, "Using ", Bound))
        {
            server.Dispose();
            Assert.Fail("page-server did not start");
        }

        return server;
    }

    /// <summary>The page server's ended sessions once every accepted connection has ended (bounded).</summary>
    private static async Task<List<(long Requests, long Pages)>> SessionsOverAsync(string log, TimeSpan bound)
    {
        var deadline = DateTime.UtcNow + bound;
        while (true)
        {
            var text = BackgroundVerb.ReadShared(log);
            var accepted = text.Split('\n').Count(l => l.Contains("Accepted connection from", StringComparison.Ordinal));
            var ended = SessionOver().Matches(text).Select(m => (long.Parse(m.Groups["requests"].Value, CultureInfo.InvariantCulture),
                long.Parse(m.Groups["pages"].Value, CultureInfo.InvariantCulture))).ToList();
            if (accepted > 0 && ended.Count == accepted)
            {
                return ended;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the page server's {accepted} session(s) did not all end within {bound.TotalSeconds} s ({ended.Count} did):\n{text}");
            await Task.Delay(100);
        }
    }

    [GeneratedRegex(@"Session with \S+ over \(""?[A-Za-z]+""?\): (?<requests>[0-9]+) request\(s\), (?<pages>[0-9]+) page\(s\) sent")]
    private static partial Regex SessionOver();
}
