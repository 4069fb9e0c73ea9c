using LazyActors.Tools.Simulation;

namespace LazyActors.Tools.Bench;

/// <summary>The scenarios of the <c>bench</c> verb, in the order they run.</summary>
public static class BenchScenarios
{
    /// <summary>The scenario the restore-time and first-touch targets of issue 5 are defined on.</summary>
    public const string TargetScenarioName = "tree-8x128-rand";

    /// <summary>The lone-fault scenario (faults only, no background push).</summary>
    public const string LoneFaultsName = "lone-faults";

    /// <summary>The scenario whose pages come from a page server over loopback.</summary>
    public const string RemoteLoopbackName = "remote-criu-loopback";

    /// <summary>The scenario whose metadata and pages come over the Akka transport.</summary>
    public const string RemoteAkkaLoopbackName = "remote-akka-loopback";

    /// <summary>The daemon option that selects the Akka transport, looked for in the daemon's <c>--help</c>.</summary>
    public const string TransportFlag = "--transport";

    /// <summary>The daemon option that fetches from a page server, looked for in the daemon's <c>--help</c>.</summary>
    public const string PageServerFlag = "--page-server";

    /// <summary>The daemon option that turns the background push off, looked for in the daemon's <c>--help</c>.</summary>
    public const string NoBackgroundFlag = "--no-background";

    private const long MiB = 1L << 20;

    /// <summary>Every scenario, local ones first.</summary>
    public static IReadOnlyList<BenchScenario> All { get; } =
    [
        new("single-1g-rand", "1 task x 1 GiB, random first touch", 1, 1024 * MiB, TouchOrder.Rand),
        new("single-1g-seq", "1 task x 1 GiB, sequential first touch", 1, 1024 * MiB, TouchOrder.Seq),
        new("tree-4x256-rand", "4 tasks x 256 MiB, random first touch", 4, 256 * MiB, TouchOrder.Rand),
        new(TargetScenarioName, "8 tasks x 128 MiB, random first touch (issue 5 targets)", 8, 128 * MiB, TouchOrder.Rand),
        new(LoneFaultsName, $"1 task x 64 MiB, random first touch, daemon started with {NoBackgroundFlag}", 1, 64 * MiB, TouchOrder.Rand, NoBackground: true),
        new(RemoteLoopbackName, "8 x 128 MiB fetched with --page-server over CRIU's page-server protocol from our page-server on 127.0.0.1 (CRIU's own sources: bench --restorer criu)", 8, 128 * MiB, TouchOrder.Rand,
            FromPageServer: true),
        new(RemoteAkkaLoopbackName, "8 x 128 MiB fetched with --page-server --transport akka (metadata and pages over Akka.Remote) from our page-server --transport akka on 127.0.0.1", 8, 128 * MiB, TouchOrder.Rand,
            FromPageServer: true, AkkaTransport: true),

        // Issue 14's throughput target is the Akka transport against the CRIU-protocol one on the 4 x 128 MiB tree, in one run.
        new("remote-criu-4x128", "4 x 128 MiB fetched with --page-server over CRIU's page-server protocol from our page-server on 127.0.0.1", 4, 128 * MiB, TouchOrder.Rand,
            FromPageServer: true),
        new("remote-akka-4x128", "4 x 128 MiB fetched with --page-server --transport akka from our page-server --transport akka on 127.0.0.1", 4, 128 * MiB, TouchOrder.Rand,
            FromPageServer: true, AkkaTransport: true),
    ];

    /// <summary>
    /// The scenarios selected by <paramref name="names"/> (comma-separated or repeated; <c>all</c> = every scenario).
    /// </summary>
    /// <exception cref="ArgumentException">An unknown name; the message lists the known ones.</exception>
    public static IReadOnlyList<BenchScenario> Select(IEnumerable<string> names)
    {
        var wanted = names.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        if (wanted.Count == 0 || wanted.Contains("all", StringComparer.OrdinalIgnoreCase))
        {
            return All;
        }

        var unknown = wanted.Where(w => !All.Any(s => s.Name.Equals(w, StringComparison.OrdinalIgnoreCase)) && !w.Equals("none", StringComparison.OrdinalIgnoreCase)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"Unknown scenario(s) {string.Join(", ", unknown)}; known: all, none (probes only), {string.Join(", ", All.Select(s => s.Name))}.");
        }

        return All.Where(s => wanted.Contains(s.Name, StringComparer.OrdinalIgnoreCase)).ToList();
    }
}
