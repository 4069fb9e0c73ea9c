namespace LazyActors.Engine.Actors;

/// <summary>What one <see cref="LivenessProbe.Probe"/> found.</summary>
/// <param name="Gone">Why the task is gone, or null.</param>
/// <param name="Disabled">Why probing is pointless for this task, or null.</param>
internal readonly record struct LivenessOutcome(string? Gone, string? Disabled)
{
    public static LivenessOutcome Alive => default;

    public static LivenessOutcome OfGone(string reason) => new(reason, null);

    public static LivenessOutcome OfDisabled(string reason) => new(null, reason);
}
