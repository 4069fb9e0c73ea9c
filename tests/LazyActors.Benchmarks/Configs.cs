using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;

namespace LazyActors.Benchmarks;

/// <summary>
/// Config for micro-benchmarks: allocation counts (MemoryDiagnoser) and a GitHub-markdown table. Jobs come from the
/// command line (<c>--job short</c>, <c>--job dry</c>) or BenchmarkDotNet's default.
/// </summary>
public sealed class MicroBenchmarkConfig : ManualConfig
{
    /// <summary>Creates the config.</summary>
    public MicroBenchmarkConfig()
    {
        AddDiagnoser(MemoryDiagnoser.Default);
        AddExporter(MarkdownExporter.GitHub);
    }
}
