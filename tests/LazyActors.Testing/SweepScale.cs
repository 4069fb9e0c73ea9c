namespace LazyActors.Testing;

/// <summary>
/// How much of the bad input sweep runs: a fixed seed and a bounded count in CI (about a minute in all), many more
/// cases with <c>LAZYACTORS_SWEEP=long</c>. The seed can be changed with <c>LAZYACTORS_SWEEP_SEED</c> to explore;
/// every failure names the case, so it can be replayed.
/// </summary>
public static class SweepScale
{
    /// <summary>True when <c>LAZYACTORS_SWEEP=long</c>.</summary>
    public static bool Long => Environment.GetEnvironmentVariable("LAZYACTORS_SWEEP") == "long";

    /// <summary>The seed of every random choice.</summary>
    public static int Seed => int.TryParse(Environment.GetEnvironmentVariable("LAZYACTORS_SWEEP_SEED"), out var seed) ? seed : 20261130;

    /// <summary><paramref name="ci"/> normally, <paramref name="longer"/> under <c>LAZYACTORS_SWEEP=long</c>.</summary>
    public static int Count(int ci, int longer) => Long ? longer : ci;
}
