using LazyActors.Tools.Criu;

namespace LazyActors.Tools.Bench.Criu;

/// <summary>The scenarios of <c>bench --restorer criu</c>, in the order they run.</summary>
public static class CriuBenchScenarios
{
    /// <summary>The keyword selecting the small scenarios.</summary>
    public const string SmokeKeyword = "smoke";

    /// <summary>Every scenario: issue 10's four trees and the python program, issue 11's remote ones and their local twins
    /// (only when named), then the smoke ones.</summary>
    public static IReadOnlyList<CriuBenchScenario> All { get; } =
    [
        new("single-1g-rand", "1 task x 1 GiB, random first touch", new TreeWorkload(1, 1024, WorkloadTouch.Rand)),
        new("single-1g-seq", "1 task x 1 GiB, sequential first touch", new TreeWorkload(1, 1024, WorkloadTouch.Seq)),
        new("tree-4x256-rand", "4 tasks x 256 MiB, random first touch", new TreeWorkload(4, 256, WorkloadTouch.Rand)),
        new("tree-8x128-rand", "8 tasks x 128 MiB, random first touch", new TreeWorkload(8, 128, WorkloadTouch.Rand)),
        new("python-192m", "python3 holding 192 MiB of bytes and a 1M-entry dict: time to its first correct answer", Python: (192, 1_000_000)),
        new("remote-tree-4x128-rand", "4 tasks x 128 MiB, random first touch, every page from a page server on 127.0.0.1 (issue 11's target: <= 1.0 s)", new TreeWorkload(4, 128, WorkloadTouch.Rand), Remote: true),
        new("remote-single-512m-rand", "1 task x 512 MiB, random first touch, every page from a page server on 127.0.0.1 (issue 11's target: <= 0.6 s)", new TreeWorkload(1, 512, WorkloadTouch.Rand), Remote: true),
        new("local-tree-4x128-rand", "4 tasks x 128 MiB, random first touch, from local images (the remote scenario's local twin: its throughput is the remote target's reference)", new TreeWorkload(4, 128, WorkloadTouch.Rand), OnRequest: true),
        new("local-single-512m-rand", "1 task x 512 MiB, random first touch, from local images (the remote scenario's local twin)", new TreeWorkload(1, 512, WorkloadTouch.Rand), OnRequest: true),
        new("smoke-single-64m-rand", "1 task x 64 MiB, random first touch", new TreeWorkload(1, 64, WorkloadTouch.Rand), Smoke: true),
        new("smoke-tree-4x16-stride", "4 tasks x 16 MiB with grandchildren, stride-16 first touch", new TreeWorkload(4, 16, WorkloadTouch.Stride, TreeShape.Binary), Smoke: true),
        new("smoke-python-24m", "python3 holding 24 MiB of bytes and a 100k-entry dict", Python: (24, 100_000), Smoke: true),
        new("smoke-remote-tree-4x16-rand", "4 tasks x 16 MiB, random first touch, from a page server on 127.0.0.1", new TreeWorkload(4, 16, WorkloadTouch.Rand), Smoke: true, Remote: true),
    ];

    /// <summary>
    /// The scenarios selected by <paramref name="names"/> (comma-separated or repeated): <c>all</c> (default) = every
    /// scenario but the smoke ones and those run on request (the local twins), <c>smoke</c> = the smoke ones, <c>none</c> = probes only, or names.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown name; the message lists the known ones.</exception>
    public static IReadOnlyList<CriuBenchScenario> Select(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var wanted = names.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        if (wanted.Count == 0 || wanted.Contains("all", StringComparer.OrdinalIgnoreCase))
        {
            return All.Where(s => !s.Smoke && !s.OnRequest).ToList();
        }

        bool smoke = wanted.Contains(SmokeKeyword, StringComparer.OrdinalIgnoreCase);
        var unknown = wanted.Where(w => !All.Any(s => s.Name.Equals(w, StringComparison.OrdinalIgnoreCase)) && !w.Equals("none", StringComparison.OrdinalIgnoreCase) && !w.Equals(SmokeKeyword, StringComparison.OrdinalIgnoreCase)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"Unknown scenario(s) {string.Join(", ", unknown)} for --restorer criu; known: all, smoke, none (probes only), {string.Join(", ", All.Select(s => s.Name))}.");
        }

        return All.Where(s => (smoke && s.Smoke) || wanted.Contains(s.Name, StringComparer.OrdinalIgnoreCase)).ToList();
    }
}
