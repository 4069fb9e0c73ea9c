using System.Globalization;
using System.Text.RegularExpressions;
using LazyActors.Host;
using LazyActors.Testing;
using LazyActors.Tools.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// Real <c>criu restore --lazy-pages</c> (CRIU 4.2 from ../shared/tools/criu-4.2) served by the hosted daemon: one
/// <c>serve</c> process, and as CRIU's lazy-pages daemon the client <c>jobs start --wait --status-fd N</c>, which starts a
/// job whose socket CRIU connects to and exits 0 only when the service reports the job's restore complete. Every byte of
/// every restored task verified. Skipped with the reason where CRIU is absent or cannot run.
/// </summary>
public sealed partial class RealCriuServiceTests(ITestOutputHelper output) : IDisposable
{
    private readonly ScratchDirectory _dir = new("criusvc");

    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public async Task The_service_serves_real_criu_restores_of_two_checkpoints_every_byte_verified()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output));
        var tree = await harness.DumpAsync(new TreeWorkload(3, 16, WorkloadTouch.Rand, TreeShape.Binary), _dir.CreateSub("tree"));
        var single = await harness.DumpAsync(new TreeWorkload(1, 32, WorkloadTouch.Seq), _dir.CreateSub("single"));
        await using var service = await ServiceProcess.StartAsync(_dir.CreateSub("service"), http: false);
        var daemon = new CriuDaemonSpec
        {
            Label = "service",
            Template = [.. HostInvocation.Prefix(), "jobs", "start", "--control-socket", service.ControlSocket, "--wait"],
        };

        try
        {
            foreach (var checkpoint in new[] { tree, single, tree })
            {
                var result = await harness.RestoreAsync(checkpoint, daemon);
                output.WriteLine(result.Summary());
                Assert.True(result.Ok, string.Join("\n", result.Failures));
                Assert.Equal(checkpoint.Workload.TaskCount, result.Tasks.Count);
                Assert.Equal(checkpoint.Workload.TotalBytes, result.BytesVerified);
                Assert.All(result.Tasks, t => Assert.Equal(checkpoint.Workload.BytesPerTask, t.BytesVerified));
                Assert.Equal(0, result.RootExitCode);
                Assert.Equal(0, result.DaemonExitCode);
            }

            using var client = service.Client();
            var jobs = await client.Jobs.ListJobsAsync(new Host.Control.V1.ListJobsRequest());
            Assert.Equal(3, jobs.Jobs.Count(j => j.State == Host.Control.V1.JobState.Completed));
        }
        finally
        {
            output.WriteLine(service.Output);
        }
    }

    /// <summary>
    /// Two real restores of two checkpoints served by one service at the same time (each its own job, work dir and
    /// restored tree), every byte verified; local images put through the shared page cache, whose Prometheus counters
    /// show each lazy page of both checkpoints read from the images once.
    /// </summary>
    /// <remarks>Two restores of one checkpoint: <see cref="The_service_serves_two_real_criu_restores_of_one_checkpoint_at_once_reading_each_page_once"/>.</remarks>
    [SkippableFact]
    public async Task The_service_serves_two_real_criu_restores_at_once_reading_each_page_once()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output));
        var tree = await harness.DumpAsync(new TreeWorkload(3, 16, WorkloadTouch.Rand, TreeShape.Binary), _dir.CreateSub("tree"));
        var single = await harness.DumpAsync(new TreeWorkload(1, 32, WorkloadTouch.Seq), _dir.CreateSub("single"));
        var environment = new Dictionary<string, string> { ["LazyActors__Service__PageCache__LocalImages"] = "true" };
        await using var service = await ServiceProcess.StartAsync(_dir.CreateSub("service"), http: true, environment);
        var daemon = new CriuDaemonSpec
        {
            Label = "service",
            Template = [.. HostInvocation.Prefix(), "jobs", "start", "--control-socket", service.ControlSocket, "--wait"],
        };

        try
        {
            var checkpoints = new[] { tree, single };
            var results = await Task.WhenAll(checkpoints.Select(c => harness.RestoreAsync(c, daemon)));
            for (var i = 0; i < checkpoints.Length; i++)
            {
                var (checkpoint, result) = (checkpoints[i], results[i]);
                output.WriteLine(result.Summary());
                Assert.True(result.Ok, string.Join("\n", result.Failures));
                Assert.Equal(checkpoint.Workload.TaskCount, result.Tasks.Count);
                Assert.Equal(checkpoint.Workload.TotalBytes, result.BytesVerified);
                Assert.Equal(0, result.RootExitCode);
                Assert.Equal(0, result.DaemonExitCode);
            }

            using var http = new HttpClient { BaseAddress = service.Http, Timeout = TimeSpan.FromSeconds(20) };
            var metrics = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
            var misses = Counter(metrics, "lazy_actors_cache_misses");
            var lazyPages = checkpoints.Sum(c => c.LazyBytes) / Environment.SystemPageSize;
            using var client = service.Client();
            var jobs = (await client.Jobs.ListJobsAsync(new Host.Control.V1.ListJobsRequest())).Jobs;
            var copied = jobs.Sum(j => j.Counters.PagesByFault + j.Counters.PagesByPush);

            // No hits to expect: the two checkpoints share no page (hits have no sample until the first one).
            output.WriteLine($"lazy pages of both checkpoints {lazyPages}; copied {copied}; cache misses {misses}");
            if (copied == lazyPages)
            {
                Assert.Equal(lazyPages, misses);
            }
            else
            {
                // A restored task ends when its workload has verified its memory, which can be before the push copied
                // a page the workload never reads (CI run 17: a zero page; the daemon logs the task's exit). Each page
                // copied was still read from the images once, and none more than once.
                AssertTaskExitedEarly(service.Output, copied, lazyPages, checkpoints.Sum(c => c.Workload.TotalBytes) / Environment.SystemPageSize);
                Assert.InRange(misses, copied, lazyPages);
            }
        }
        finally
        {
            output.WriteLine(service.Output);
        }
    }

    /// <summary>
    /// Two real restores of ONE checkpoint served by one service at the same time (two jobs naming the same images, two
    /// work directories; N copies of one warm service): the tree was dumped as PID 1 of its own pid namespace, so CRIU
    /// restores each copy into a new one, and each <c>criu restore</c> runs in a mount namespace of its own with a copy of
    /// the workload directory over it, so each copy writes its own results (<see cref="CriuHarness.RestoreCopiesAsync"/>).
    /// Every byte of both verified; the shared page cache read each lazy page from the images once (misses = the lazy
    /// pages, the other copy's reads hits), and each job's own counters add up to that.
    /// </summary>
    [SkippableFact]
    public async Task The_service_serves_two_real_criu_restores_of_one_checkpoint_at_once_reading_each_page_once()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output));
        var tree = await harness.DumpAsync(new TreeWorkload(3, 16, WorkloadTouch.Rand, TreeShape.Binary), _dir.CreateSub("tree"), ownPidNamespace: true);
        var environment = new Dictionary<string, string> { ["LazyActors__Service__PageCache__LocalImages"] = "true" };
        await using var service = await ServiceProcess.StartAsync(_dir.CreateSub("service"), http: true, environment);
        var daemon = new CriuDaemonSpec
        {
            Label = "service",
            Template = [.. HostInvocation.Prefix(), "jobs", "start", "--control-socket", service.ControlSocket, "--wait"],
        };

        try
        {
            var results = await harness.RestoreCopiesAsync(tree, daemon, copies: 2);
            Assert.Equal(2, results.Count);
            foreach (var result in results)
            {
                output.WriteLine(result.Summary());
                Assert.True(result.Ok, string.Join("\n", result.Failures));
                Assert.Equal(tree.Workload.TaskCount, result.Tasks.Count);
                Assert.Equal(tree.Workload.TotalBytes, result.BytesVerified);
                Assert.All(result.Tasks, t => Assert.Equal(tree.Workload.BytesPerTask, t.BytesVerified));
                Assert.Equal(0, result.RootExitCode);
                Assert.Equal(0, result.DaemonExitCode);
            }

            Assert.NotEqual(results[0].WorkDirectory, results[1].WorkDirectory);
            using var http = new HttpClient { BaseAddress = service.Http, Timeout = TimeSpan.FromSeconds(20) };
            var metrics = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
            var misses = Counter(metrics, "lazy_actors_cache_misses");
            var hits = Counter(metrics, "lazy_actors_cache_hits");
            var lazyPages = tree.LazyBytes / Environment.SystemPageSize;
            var verifiedPages = tree.Workload.TotalBytes / Environment.SystemPageSize;

            using var client = service.Client();
            var jobs = (await client.Jobs.ListJobsAsync(new Host.Control.V1.ListJobsRequest())).Jobs;
            Assert.Equal(2, jobs.Count(j => j.State == Host.Control.V1.JobState.Completed));
            foreach (var job in jobs)
            {
                var c = job.Counters;
                output.WriteLine($"job {job.Id} ({job.WorkDir}): bytes from the images {c.BytesFromSource}, cache hits {c.CacheHits}, misses {c.CacheMisses}, pages by fault {c.PagesByFault}, by push {c.PagesByPush}");
            }

            output.WriteLine($"lazy pages of the checkpoint {lazyPages}; cache misses {misses}, hits {hits}");
            var copiedByJob = jobs.Select(j => j.Counters.PagesByFault + j.Counters.PagesByPush).ToList();
            if (copiedByJob.All(copied => copied == lazyPages))
            {
                // Every page read from the images once, and the other copy's reads all hits.
                Assert.Equal(lazyPages, misses);
                Assert.True(hits >= lazyPages, $"the other copy took {hits} pages from the cache, fewer than the {lazyPages} lazy pages");
                Assert.Equal(lazyPages, jobs.Sum(j => j.Counters.CacheMisses));
                Assert.Equal(tree.LazyBytes, jobs.Sum(j => j.Counters.BytesFromSource));
            }
            else
            {
                // A restored task ends when its workload has verified its memory, which can be before the push copied
                // a page the workload never reads (CI run 17: one zero page, "task exited (UFFDIO_ZEROPAGE ...: ESRCH)").
                // Then: no page read from the images twice, every page copied by either copy read once, the rest hits.
                AssertTaskExitedEarly(service.Output, copiedByJob.Sum(), 2 * lazyPages, 2 * verifiedPages);
                Assert.InRange(misses, copiedByJob.Max(), lazyPages);
                Assert.True(hits >= copiedByJob.Sum() - misses, $"the copies took {hits} pages from the cache and {misses} from the images, fewer than the {copiedByJob.Sum()} pages they copied");
                Assert.Equal(misses, jobs.Sum(j => j.Counters.CacheMisses));
            }

            foreach (var job in jobs)
            {
                var c = job.Counters;
                Assert.InRange(c.PagesByFault + c.PagesByPush, verifiedPages, lazyPages);
                Assert.True(c.CacheHits + c.CacheMisses >= c.PagesByFault + c.PagesByPush, $"job {job.Id} copied more pages than it read through the cache");
            }
        }
        finally
        {
            output.WriteLine(service.Output);
        }
    }

    /// <summary>
    /// Fewer pages copied than the checkpoint's lazy pages is only right when a restored task exited first (the daemon logs
    /// "task exited"), and never below the pages the workloads verified.
    /// </summary>
    private void AssertTaskExitedEarly(string serviceOutput, long copied, long lazyPages, long verifiedPages)
    {
        output.WriteLine($"{copied} of {lazyPages} lazy pages copied: a restored task exited before the push reached its last pages");
        Assert.Contains("task exited", serviceOutput, StringComparison.Ordinal);
        Assert.InRange(copied, verifiedPages, lazyPages - 1);
    }

    /// <summary>The sum of a Prometheus counter's samples (every label set), by its name without the unit suffix.</summary>
    private static long Counter(string exposition, string name)
    {
        var values = exposition.Split('\n')
            .Where(l => l.StartsWith(name, StringComparison.Ordinal))
            .Select(l => CounterLine().Match(l))
            .Where(m => m.Success && m.Groups["name"].Value.EndsWith("_total", StringComparison.Ordinal))
            .Select(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture))
            .ToList();
        Assert.True(values.Count > 0, $"no {name}..._total sample in /metrics:\n{exposition}");
        return (long)values.Sum();
    }

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{[^}]*\})? (?<value>[0-9.eE+-]+)")]
    private static partial Regex CounterLine();
}
