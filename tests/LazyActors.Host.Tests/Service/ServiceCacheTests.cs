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
            foreach (var job in jobs)
            {
                var (last, _) = await ServiceRestores.WatchAsync(client, job.Id);
                Assert.Equal(Proto.JobState.Completed, last.State);
                lazyPages = last.Tasks.Sum(t => t.TotalPages);
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
        }
        finally
        {
            output.WriteLine(service.Output);
        }
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
