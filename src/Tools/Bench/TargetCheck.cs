using System.Text.Json.Serialization;

namespace LazyActors.Tools.Bench;

/// <summary>One performance target of issue 5 checked against a median figure.</summary>
/// <param name="Name">What is checked, e.g. "first-touch p99".</param>
/// <param name="Value">The measured median (NaN when missing).</param>
/// <param name="Limit">The largest value that passes.</param>
/// <param name="Unit">Unit of both numbers.</param>
public sealed record TargetCheck(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("value")] double Value,
    [property: JsonPropertyName("limit")] double Limit,
    [property: JsonPropertyName("unit")] string Unit)
{
    /// <summary>True/false when both numbers are known, null when the value or the limit could not be measured.</summary>
    [JsonPropertyName("passed")]
    public bool? Passed => double.IsNaN(Value) || double.IsNaN(Limit) ? null : Value <= Limit;

    /// <summary>"PASS", "FAIL" or "n/a".</summary>
    [JsonIgnore]
    public string Verdict => Passed switch { true => "PASS", false => "FAIL", null => "n/a" };
}
