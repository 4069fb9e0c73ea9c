using System.Text.Json.Serialization;

namespace LazyActors.Tools.Criu;

/// <summary>Source-generated JSON for the workloads' result lines and the harness's results.</summary>
[JsonSerializable(typeof(WorkloadTaskReport))]
[JsonSerializable(typeof(CriuRestoreResult))]
[JsonSourceGenerationOptions(WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class CriuJsonContext : JsonSerializerContext
{
}
