namespace LazyActors.Tools.Criu;

/// <summary>Whether CRIU can be used here: the checked tool, or the reason (a test's skip reason) why not.</summary>
/// <param name="Tool">The usable CRIU, or null.</param>
/// <param name="Problem">Why CRIU cannot be used, or null when <paramref name="Tool"/> is set.</param>
public sealed record CriuAvailability(CriuTool? Tool, string? Problem)
{
    /// <summary>True when <see cref="Tool"/> can be used.</summary>
    public bool Available => Tool is not null;

    /// <summary>An unusable CRIU with its reason.</summary>
    public static CriuAvailability Missing(string problem) => new(null, problem);
}
