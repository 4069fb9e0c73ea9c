using LazyActors.Tools.Simulation;

namespace LazyActors.Tools.Bench;

/// <summary>One end-to-end bench scenario: a synthetic checkpoint shape, the simulator's touch order and daemon needs.</summary>
/// <param name="Name">Name given to <c>--scenario</c>.</param>
/// <param name="Description">One line for the table and the docs.</param>
/// <param name="Tasks">Processes in the synthetic pstree.</param>
/// <param name="BytesPerTask">Lazy-capable anonymous memory per process.</param>
/// <param name="Touch">First-touch order of the simulated tasks.</param>
/// <param name="NoBackground">True when the daemon must serve faults only (no background push): lone faults.</param>
/// <param name="UnavailableReason">Non-null for scenarios that cannot run yet (remote transports).</param>
/// <param name="FromPageServer">True when the daemon fetches every page over CRIU's page-server protocol from our
/// <c>page-server</c> on 127.0.0.1 (the daemon gets <c>--page-server --address --port</c>).</param>
/// <param name="AkkaTransport">With <paramref name="FromPageServer"/>: both sides use <c>--transport akka</c> (our Akka.Remote
/// transport) instead of CRIU's page-server protocol.</param>
public sealed record BenchScenario(string Name, string Description, int Tasks, long BytesPerTask, TouchOrder Touch, bool NoBackground = false, string? UnavailableReason = null, bool FromPageServer = false,
    bool AkkaTransport = false)
{
    /// <summary>Lazy-capable bytes of the whole restore.</summary>
    public long TotalBytes => Tasks * BytesPerTask;

    /// <summary>True for the scenario issue 5's restore-time and latency targets are stated for.</summary>
    public bool IsTargetScenario => Name == BenchScenarios.TargetScenarioName;
}
