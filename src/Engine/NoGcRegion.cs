using System.Runtime;

namespace LazyActors.Engine;

/// <summary>
/// Holds garbage collections off while the engine serves a restore (<see cref="GC.TryStartNoGCRegion(long)"/>), up to a
/// budget of allocated bytes. The runtime ends the region by itself with an ordinary collection if the budget runs out,
/// so a long restore is never at risk, only no longer pause-free. It is started without a full blocking collection
/// (a "minimal" one that only reserves the budget), before the restorer hands over any task.
/// </summary>
internal sealed class NoGcRegion : IDisposable
{
    private NoGcRegion()
    {
    }

    /// <summary>Starts the region, or returns null when no budget is set or the runtime refuses it.</summary>
    public static NoGcRegion? TryStart(long? budgetBytes)
    {
        if (budgetBytes is not > 0 || GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
        {
            return null;
        }

        try
        {
            // Without a full blocking collection: the region then only sets the budget aside (0.7 ms of CPU for a 30 MB
            // heap instead of 79 ms compacting it; the daemon's start-up heap took about 15 ms, docs/benchmarks.md,
            // fixed32). When the budget cannot be had without one, the region is refused and the engine collects as usual.
            return GC.TryStartNoGCRegion(budgetBytes.Value, disallowFullBlockingGC: true) ? new NoGcRegion() : null;
        }
        catch (ArgumentOutOfRangeException)
        {
            return null; // larger than this GC configuration allows: collect as usual
        }
        catch (InvalidOperationException)
        {
            return null; // another engine in this process holds a region already
        }
    }

    /// <summary>True while collections are still held off (the budget has not run out).</summary>
    public static bool IsActive => GCSettings.LatencyMode == GCLatencyMode.NoGCRegion;

    public void Dispose()
    {
        if (IsActive)
        {
            try
            {
                GC.EndNoGCRegion();
            }
            catch (InvalidOperationException)
            {
                // The budget ran out between the check and the call: the region has already ended.
            }
        }
    }
}
