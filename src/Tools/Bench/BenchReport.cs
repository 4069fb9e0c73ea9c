using System.Text.Json.Serialization;
using LazyActors.Tools.Bench.Criu;

namespace LazyActors.Tools.Bench;

/// <summary>Everything one <c>bench</c> invocation measured (printed as a table; written as JSON with <c>--json</c>).</summary>
public sealed record BenchReport
{
    /// <summary>When the bench started.</summary>
    [JsonPropertyName("date")]
    public DateTimeOffset Date { get; init; }

    /// <summary>The machine the bench ran on.</summary>
    [JsonPropertyName("machine")]
    public MachineInfo Machine { get; init; } = new();

    /// <summary>The daemon command the scenarios ran against.</summary>
    [JsonPropertyName("daemon")]
    public string Daemon { get; init; } = "";

    /// <summary>Runs per scenario.</summary>
    [JsonPropertyName("runs")]
    public int Runs { get; init; }

    /// <summary>The measured limits of this machine (copy bandwidth, fault round trip).</summary>
    [JsonPropertyName("probes")]
    public ProbeReport Probes { get; init; } = new();

    /// <summary>One summary per scenario and daemon.</summary>
    [JsonPropertyName("scenarios")]
    public IReadOnlyList<ScenarioSummary> Scenarios { get; init; } = [];

    /// <summary>With <c>--restorer criu</c>: the CRIU used (path and version) or why there was none.</summary>
    [JsonPropertyName("criu")]
    public string? Criu { get; init; }

    /// <summary>With <c>--restorer criu</c>: every scenario per daemon.</summary>
    [JsonPropertyName("criu_scenarios")]
    public IReadOnlyList<CriuScenarioSummary> CriuScenarios { get; init; } = [];

    /// <summary>Wall time of the whole bench.</summary>
    [JsonPropertyName("elapsed_s")]
    public double ElapsedSeconds { get; init; }

    /// <summary>False when the probes failed or any attempted run (or CRIU checkpoint) failed, including a daemon that would not start.</summary>
    [JsonIgnore]
    public bool Ok => Probes.Error is null && Scenarios.All(s => s.RunDetails.All(r => r.Ok)) && CriuScenarios.All(s => s.Ok);
}

[JsonSerializable(typeof(BenchReport))]
[JsonSourceGenerationOptions(WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class BenchJsonContext : JsonSerializerContext
{
}
