namespace LazyActors.Engine.Faults;

/// <summary>
/// One rule of a <see cref="FaultPlan"/>: at <paramref name="Point"/>, fire from the <paramref name="StartAt"/>-th
/// occurrence on (1-based) for <paramref name="Times"/> consecutive occurrences, or, when <paramref name="StartAt"/> is 0,
/// at each occurrence with <paramref name="Probability"/> (at most <paramref name="Times"/> times).
/// </summary>
/// <param name="Point">Where.</param>
/// <param name="Argument">The point's argument (an errno name, a delay in ms), or null.</param>
/// <param name="StartAt">First occurrence that fires (1-based), or 0 for the probability mode.</param>
/// <param name="Times">How many times it fires at most.</param>
/// <param name="Probability">Chance per occurrence in the probability mode.</param>
public sealed record FaultRule(FaultPoint Point, string? Argument, int StartAt, int Times, double Probability)
{
    /// <summary>The rule as <see cref="FaultPlan.Parse"/> reads it.</summary>
    public override string ToString()
    {
        var name = FaultPlan.NameOf(Point) + (Argument is null ? string.Empty : $"={Argument}");
        var times = Times == int.MaxValue ? string.Empty : FormattableString.Invariant($"x{Times}");
        return StartAt > 0 ? FormattableString.Invariant($"{name}@{StartAt}{times}") : FormattableString.Invariant($"{name}%{Probability}{times}");
    }
}
