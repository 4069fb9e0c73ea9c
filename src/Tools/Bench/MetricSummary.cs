using System.Text.Json.Serialization;

namespace LazyActors.Tools.Bench;

/// <summary>Median and range of one figure over the runs of a bench (the table shows <c>median (min–max)</c>).</summary>
/// <param name="Median">Median of the values (mean of the two middle values for an even count).</param>
/// <param name="Min">Smallest value.</param>
/// <param name="Max">Largest value.</param>
/// <param name="Count">Number of values summarised; 0 means "no value" (all fields are then NaN).</param>
public sealed record MetricSummary(
    [property: JsonPropertyName("median")] double Median,
    [property: JsonPropertyName("min")] double Min,
    [property: JsonPropertyName("max")] double Max,
    [property: JsonPropertyName("n")] int Count)
{
    /// <summary>The summary of no values.</summary>
    public static MetricSummary Empty { get; } = new(double.NaN, double.NaN, double.NaN, 0);

    /// <summary>True when at least one value was summarised.</summary>
    [JsonIgnore]
    public bool HasValue => Count > 0;
}
