using System.Globalization;
using System.Text.RegularExpressions;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Tests.Service;

/// <summary>
/// The shared page cache through the whole service: <c>serve</c> with local images put through the cache
/// (<c>LazyActors:Service:PageCache:LocalImages</c>), two jobs restoring one checkpoint at once, every byte verified, and
/// the service's own Prometheus metrics showing each page read from the images once.
/// </summary>
public sealed partial class ServiceCacheTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Two_restores_of_one_checkpoint_through_the_service_read_each_page_from_the_images_once()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var scratch = new ScratchDirectory("svcc");
        var images = scratch.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 8L << 20, 0xCAC4));
        var environment = new Dictionary<string, string> { ["LazyActors__Service__PageCache__LocalImages"] = "true" };
        await using var service = await ServiceProcess.StartAsync(scratch.Path, http: true, environment);
        using var client = service.Client();
        try
        {
            var works = new[] { scratch.CreateSub("one"), scratch.CreateSub("two") };
            var jobs = new List<Proto.Job>();
            foreach (var work in works)
            {
                jobs.Add(await ServiceRestores.StartAsync(client, images, work));
            }

            var reports = await Task.WhenAll(works.Select(w => ServiceRestores.RestoreAsync(images, w)));
            Assert.All(reports, ServiceRestores.AssertVerified);
            long lazyPages = 0;
            var ended = new List<Proto.Job>();
            foreach (var job in jobs)
            {
                var (last, _) = await ServiceRestores.WatchAsync(client, job.Id);
                Assert.Equal(Proto.JobState.Completed, last.State);
                lazyPages = last.Tasks.Sum(t => t.TotalPages);
                ended.Add(last);
            }

            using var http = new HttpClient { BaseAddress = service.Http, Timeout = TimeSpan.FromSeconds(20) };
            var metrics = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
            var misses = Sample(metrics, "lazy_actors_cache_misses");
            var hits = Sample(metrics, "lazy_actors_cache_hits");
            var sourceBytes = Sample(metrics, "lazy_actors_source_bytes");
            output.WriteLine($"lazy pages per restore {lazyPages}; cache misses {misses}, hits {hits}; bytes from the images {sourceBytes}");
            Assert.Equal(lazyPages, misses);
            Assert.True(hits >= lazyPages, $"the second restore took {hits} pages from the cache, fewer than its {lazyPages}");
            Assert.Equal(lazyPages * Environment.SystemPageSize, sourceBytes);
            AssertPerJobCounters(ended, metrics, lazyPages, output);
        }
        finally
        {
            output.WriteLine(service.Output);
        }
    }

    /// <summary>
    /// Jobs that restored one checkpoint at once through the shared cache, as they ended (<paramref name="ended"/>): each
    /// job's status counts its own traffic (every lazy page copied once, by fault or push; each page it read was a hit or
    /// its own miss; its bytes from the source are its misses), together they missed each page once, and the per-job
    /// Prometheus series say the same as the status.
    /// </summary>
    internal static void AssertPerJobCounters(IReadOnlyList<Proto.Job> ended, string exposition, long lazyPages, ITestOutputHelper output)
    {
        foreach (var job in ended)
        {
            var c = job.Counters;
            output.WriteLine($"job {job.Id}: bytes from source {c.BytesFromSource}, cache hits {c.CacheHits}, misses {c.CacheMisses}, pages by fault {c.PagesByFault}, by push {c.PagesByPush}");
            Assert.Equal(lazyPages, c.PagesByFault + c.PagesByPush);
            Assert.Equal(job.Tasks.Sum(t => t.CopiedByFaults), c.PagesByFault);
            Assert.True(c.CacheHits + c.CacheMisses >= lazyPages, $"job {job.Id} read {c.CacheHits} + {c.CacheMisses} pages through the cache, fewer than its {lazyPages}");
            Assert.Equal(c.CacheMisses * Environment.SystemPageSize, c.BytesFromSource);
            Assert.Equal(c.CacheMisses, JobSample(exposition, "lazy_actors_job_cache_misses", job.Id));
            Assert.Equal(c.CacheHits, JobSample(exposition, "lazy_actors_job_cache_hits", job.Id));
            Assert.Equal(c.BytesFromSource, JobSample(exposition, "lazy_actors_job_source_bytes", job.Id));
            Assert.Equal(lazyPages, JobSample(exposition, "lazy_actors_job_pages_copied", job.Id));
        }

        Assert.Equal(lazyPages, ended.Sum(j => j.Counters.CacheMisses));
        Assert.Equal(lazyPages * Environment.SystemPageSize, ended.Sum(j => j.Counters.BytesFromSource));
    }

    /// <summary>The sum of a Prometheus counter's samples whose <c>job</c> label is <paramref name="jobId"/>.</summary>
    internal static long JobSample(string exposition, string name, string jobId)
    {
        var label = $"job=\"{jobId}\"";
        var values = exposition.Split('\n')
            .Where(l => l.StartsWith(name, StringComparison.Ordinal) && l.Contains(label, StringComparison.Ordinal))
            .Select(l => CounterLine().Match(l))
            .Where(m => m.Success && m.Groups["name"].Value.EndsWith("_total", StringComparison.Ordinal))
            .Select(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture))
            .ToList();
        Assert.True(values.Count > 0, $"no {name}..._total sample of job {jobId} in /metrics:\n{exposition}");
        return (long)values.Sum();
    }

    /// <summary>The sum of a Prometheus counter's samples (every label set), by its name without the unit suffix.</summary>
    internal static long Sample(string exposition, string name)
    {
        var values = exposition.Split('\n')
            .Where(l => l.StartsWith(name, StringComparison.Ordinal) && !l.StartsWith('#'))
            .Select(l => CounterLine().Match(l))
            .Where(m => m.Success && m.Groups["name"].Value.StartsWith(name, StringComparison.Ordinal) && m.Groups["name"].Value.EndsWith("_total", StringComparison.Ordinal))
            .Select(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture))
            .ToList();
        Assert.True(values.Count > 0, $"no {name}..._total sample in /metrics:\n{exposition}");
        return (long)values.Sum();
    }

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{[^}]*\})? (?<value>[0-9.eE+-]+)")]
    private static partial Regex CounterLine();
}
