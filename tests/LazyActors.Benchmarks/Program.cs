using BenchmarkDotNet.Running;

namespace LazyActors.Benchmarks;

/// <summary>Entry point: pick benchmarks with <c>--filter</c> (see README.md).</summary>
public static class Program
{
    /// <summary>Runs the benchmarks selected on the command line.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
