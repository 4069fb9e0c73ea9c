namespace LazyActors.Engine.Diagnostics;

/// <summary>
/// The largest generation-0 allocation budget the garbage collector of this process works with, as the runtime reports
/// it (<see cref="GC.GetConfigurationVariables"/>, <c>GCGen0MaxBudget</c>). The runtime sizes it from the processor's
/// cache unless <c>DOTNET_GCgen0size</c> or the native daemon's embedded <c>GCgen0size</c> (publish property
/// <c>LazyActorsGcGen0Size</c>) raises it: 16 MiB on a VM that reports 32 MiB of L3; 6 MiB, the floor, with a small
/// <c>DOTNET_GCgen0size</c>, where a restore's ~9-13 MiB of allocations cost 2-3 collections as on a VM that reports no
/// cache (docs/benchmarks.md, fol80 and def90). The daemon logs it beside its collection count so that a log shows why
/// it collected.
/// </summary>
public static class Gen0Budget
{
    /// <summary>The budget in bytes, or null where the runtime does not report it.</summary>
    public static long? MaxBytes()
    {
        return GC.GetConfigurationVariables().TryGetValue("GCGen0MaxBudget", out var value) && value is not null
            ? Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)
            : null;
    }
}
