using System.Diagnostics.Metrics;

namespace LazyActors.Engine.Metrics;

/// <summary>
/// The engine's instruments (<see cref="System.Diagnostics.Metrics"/>, meter <see cref="MeterName"/>), summed over every
/// restore of the process. Without a listener (the one-shot daemon) recording costs a check; the hosted service exports
/// them with OpenTelemetry.
/// </summary>
public static class EngineMeters
{
    /// <summary>The meter's name, to subscribe to (OpenTelemetry <c>AddMeter</c>).</summary>
    public const string MeterName = "LazyActors.Engine";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Page faults received.</summary>
    internal static Counter<long> Faults { get; } = Meter.CreateCounter<long>("lazy_actors.faults", "{fault}", "Page faults received from restored tasks.");

    /// <summary>From the reader reading a fault to the copy that woke its thread.</summary>
    internal static Histogram<double> FaultLatency { get; } = Meter.CreateHistogram("lazy_actors.fault.latency", "s",
        "Time from reading a page fault to the copy that woke its thread.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [.. FaultLatencyHistogram.BoundsMicroseconds.Select(us => us / 1e6)] });

    /// <summary>Pages copied into tasks, tagged <c>by</c> = fault | push.</summary>
    internal static Counter<long> PagesCopied { get; } = Meter.CreateCounter<long>("lazy_actors.pages.copied", "{page}", "Pages copied into restored tasks, by fault or by the background push.");

    /// <summary>Bytes read from page sources.</summary>
    internal static Counter<long> SourceBytes { get; } = Meter.CreateCounter<long>("lazy_actors.source.bytes", "By", "Bytes read from page sources (local images or a page server).");

    /// <summary>Pages served by the shared page cache.</summary>
    internal static Counter<long> CacheHits { get; } = Meter.CreateCounter<long>("lazy_actors.cache.hits", "{page}", "Pages the shared page cache served without reading the source.");

    /// <summary>Pages the shared page cache read from the source.</summary>
    internal static Counter<long> CacheMisses { get; } = Meter.CreateCounter<long>("lazy_actors.cache.misses", "{page}", "Pages the shared page cache read from the source.");

    /// <summary>Errors, tagged <c>kind</c>.</summary>
    internal static Counter<long> Errors { get; } = Meter.CreateCounter<long>("lazy_actors.errors", "{error}", "Failed tasks and failed page reads.");

    internal static void CountCopied(long pages, bool background)
    {
        if (PagesCopied.Enabled)
        {
            PagesCopied.Add(pages, new KeyValuePair<string, object?>("by", background ? "push" : "fault"));
        }
    }

    /// <summary>Faults injected by a test's fault plan, tagged <c>point</c> (never counted in production: no plan).</summary>
    internal static Counter<long> InjectedFaults { get; } = Meter.CreateCounter<long>("lazy_actors.faults.injected", "{fault}", "Faults injected by a fault plan (tests only).");

    /// <summary>Recoveries: actors restarted by their supervisor and reads re-issued, tagged <c>kind</c>.</summary>
    internal static Counter<long> Recoveries { get; } = Meter.CreateCounter<long>("lazy_actors.recoveries", "{recovery}", "Actors restarted and page reads retried after a failure.");

    internal static void CountError(string kind) => Errors.Add(1, new KeyValuePair<string, object?>("kind", kind));

    internal static void CountInjectedFault(string point) => InjectedFaults.Add(1, new KeyValuePair<string, object?>("point", point));

    internal static void CountRecovery(string kind) => Recoveries.Add(1, new KeyValuePair<string, object?>("kind", kind));
}
