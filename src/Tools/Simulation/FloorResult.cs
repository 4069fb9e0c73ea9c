using System.Text.Json.Serialization;

namespace LazyActors.Tools.Simulation;

/// <summary>One floor process's figures (µs).</summary>
internal sealed record FloorResult(
    [property: JsonPropertyName("max_us")] double MaxUs,
    [property: JsonPropertyName("max_excl_cpu_wait_us")] double? MaxExclCpuWaitUs,
    [property: JsonPropertyName("p99_us")] double P99Us);

[JsonSerializable(typeof(FloorResult))]
internal sealed partial class FloorJsonContext : JsonSerializerContext
{
}
