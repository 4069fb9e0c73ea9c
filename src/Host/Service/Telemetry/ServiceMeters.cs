using System.Diagnostics.Metrics;
using LazyActors.Engine.Pages;
using LazyActors.Host.Service.Jobs;

namespace LazyActors.Host.Service.Telemetry;

/// <summary>The service's own instruments (meter <see cref="MeterName"/>): jobs and the shared page cache's size; the
/// fault path's are the engine's (<see cref="Engine.Metrics.EngineMeters"/>).</summary>
public sealed class ServiceMeters : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "LazyActors.Service";

    private readonly Meter _meter;
    private readonly Counter<long> _started;
    private readonly Counter<long> _ended;
    private readonly UpDownCounter<long> _active;

    /// <summary>Creates the instruments through <paramref name="factory"/> (DI's meter factory).</summary>
    public ServiceMeters(IMeterFactory factory, SharedPageCache? cache)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _meter = factory.Create(MeterName);
        _started = _meter.CreateCounter<long>("lazy_actors.jobs.started", "{job}", "Restore jobs started.");
        _ended = _meter.CreateCounter<long>("lazy_actors.jobs.ended", "{job}", "Restore jobs ended, by state (completed, failed, cancelled).");
        _active = _meter.CreateUpDownCounter<long>("lazy_actors.jobs.active", "{job}", "Restore jobs running now.");
        if (cache is not null)
        {
            _meter.CreateObservableGauge("lazy_actors.cache.size", () => cache.CachedBytes, "By", "Bytes held by the shared page cache.");
            _meter.CreateObservableCounter("lazy_actors.cache.evicted", () => cache.EvictedPages, "{page}", "Pages the shared page cache evicted.");
        }
    }

    /// <summary>
    /// Per-job instruments, tagged <c>job</c> (the jobs <paramref name="jobs"/> lists: running ones and the finished ones
    /// kept, so the series stay bounded): bytes from the source, cache hits and misses, pages copied by fault and by push,
    /// each job's own also when jobs of one checkpoint share the cache and one page-server session (<see cref="JobCounters"/>).
    /// </summary>
    internal void ObserveJobs(Func<IReadOnlyList<Job>> jobs)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        IEnumerable<Measurement<long>> Each(Func<JobCounters, long> value) =>
            jobs().Select(j => new Measurement<long>(value(j.Counters), new KeyValuePair<string, object?>("job", j.Id)));
        _meter.CreateObservableCounter("lazy_actors.job.source.bytes", () => Each(c => c.BytesFromSource), "By", "Bytes read from the source for one job (through the shared cache: its misses).");
        _meter.CreateObservableCounter("lazy_actors.job.cache.hits", () => Each(c => c.CacheHits), "{page}", "Pages the shared page cache served one job without reading the source.");
        _meter.CreateObservableCounter("lazy_actors.job.cache.misses", () => Each(c => c.CacheMisses), "{page}", "Pages the shared page cache read from the source at one job's request.");
        _meter.CreateObservableCounter("lazy_actors.job.pages.copied", () => jobs().SelectMany(j =>
        {
            var counters = j.Counters;
            var job = new KeyValuePair<string, object?>("job", j.Id);
            return new[]
            {
                new Measurement<long>(counters.PagesByFault, job, new KeyValuePair<string, object?>("by", "fault")),
                new Measurement<long>(counters.PagesByPush, job, new KeyValuePair<string, object?>("by", "push")),
            };
        }), "{page}", "Pages copied into one job's tasks, by fault or by the background push.");
    }

    internal void JobStarted()
    {
        _started.Add(1);
        _active.Add(1);
    }

    internal void JobEnded(JobState state)
    {
        _active.Add(-1);
        _ended.Add(1, new KeyValuePair<string, object?>("state", state.ToString().ToLowerInvariant()));
    }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
