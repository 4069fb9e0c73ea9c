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
