using System.Globalization;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Faults;

/// <summary>
/// The faults a test asks the engine to inject into a restore (<c>lazy-actors.engine.fault-injection</c>; off by
/// default, and then nothing of this exists at run time). Text form, rules separated by <c>;</c>:
/// <c>seed=N</c> (the random choices), <c>POINT[=ARG]@N[xT]</c> (the N-th occurrence and T-1 more after it) or
/// <c>POINT[=ARG]%P[xT]</c> (each occurrence with chance P, at most T times). Points: see <see cref="FaultPoint"/>.
/// Example: <c>seed=7; uffd.copy=EAGAIN@3x20; source.error%0.01; actor.page-cache@5</c>.
/// </summary>
public sealed class FaultPlan
{
    private static readonly (string Name, FaultPoint Point)[] Names =
    [
        ("source.delay", FaultPoint.SourceDelay), ("source.error", FaultPoint.SourceError), ("source.short", FaultPoint.SourceShortRead),
        ("source.corrupt", FaultPoint.SourceWrongAddress), ("remote.drop", FaultPoint.ConnectionDrop), ("uffd.copy", FaultPoint.CopyErrno),
        ("uffd.half1", FaultPoint.FirstHalfErrno), ("uffd.half2", FaultPoint.SecondHalfErrno), ("uffd.half2-delay", FaultPoint.SecondHalfDelay),
        ("actor.uffd", FaultPoint.UffdActorThrows), ("actor.page-cache", FaultPoint.PageCacheThrows), ("actor.pusher", FaultPoint.PusherThrows),
        ("actor.remote-fetch", FaultPoint.RemoteFetchThrows), ("actor.supervisor", FaultPoint.SupervisorThrows),
    ];

    private static readonly Errno[] InjectableErrnos = [Errno.EAGAIN, Errno.EEXIST, Errno.ENOENT, Errno.ESRCH, Errno.ENOMEM, Errno.EFAULT];

    /// <summary>A plan of <paramref name="rules"/> with <paramref name="seed"/>.</summary>
    public FaultPlan(int seed, IReadOnlyList<FaultRule> rules)
    {
        Seed = seed;
        Rules = rules;
    }

    /// <summary>Seed of the random choices.</summary>
    public int Seed { get; }

    /// <summary>The rules, in order.</summary>
    public IReadOnlyList<FaultRule> Rules { get; }

    /// <summary>The name of <paramref name="point"/> in the text form.</summary>
    public static string NameOf(FaultPoint point) => Array.Find(Names, n => n.Point == point).Name;

    /// <summary>Reads the text form.</summary>
    /// <exception cref="FormatException">A rule that cannot be read; the message names it.</exception>
    public static FaultPlan Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var seed = 0;
        var rules = new List<FaultRule>();
        foreach (var raw in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw.StartsWith("seed=", StringComparison.Ordinal))
            {
                seed = int.Parse(raw.AsSpan(5), NumberStyles.Integer, CultureInfo.InvariantCulture);
                continue;
            }

            rules.Add(ParseRule(raw));
        }

        return new FaultPlan(seed, rules);
    }

    /// <summary>The text form (<see cref="Parse"/> reads it back).</summary>
    public override string ToString() =>
        string.Join("; ", new[] { FormattableString.Invariant($"seed={Seed}") }.Concat(Rules.Select(r => r.ToString())));

    /// <summary>The errno a <see cref="FaultPoint.CopyErrno"/> rule names.</summary>
    public static Errno ErrnoOf(FaultRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return Enum.Parse<Errno>(rule.Argument!);
    }

    private static FaultRule ParseRule(string raw)
    {
        try
        {
            var at = raw.IndexOfAny(['@', '%']);
            if (at < 0)
            {
                throw new FormatException("needs @N or %P");
            }

            var head = raw[..at];
            var tail = raw[(at + 1)..];
            var x = tail.IndexOf('x', StringComparison.Ordinal);
            var times = x < 0 ? (raw[at] == '@' ? 1 : int.MaxValue) : int.Parse(tail[(x + 1)..], NumberStyles.None, CultureInfo.InvariantCulture);
            var when = x < 0 ? tail : tail[..x];
            var eq = head.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? head : head[..eq];
            var argument = eq < 0 ? null : head[(eq + 1)..];
            var match = Array.FindIndex(Names, n => n.Name == name);
            if (match < 0)
            {
                throw new FormatException($"unknown point {name} (known: {string.Join(", ", Names.Select(n => n.Name))})");
            }

            var point = Names[match].Point;
            CheckArgument(point, argument);
            if (times < 1)
            {
                throw new FormatException("xT needs T ≥ 1");
            }

            if (raw[at] == '@')
            {
                var start = int.Parse(when, NumberStyles.None, CultureInfo.InvariantCulture);
                return start < 1 ? throw new FormatException("@N needs N ≥ 1") : new FaultRule(point, argument, start, times, 0);
            }

            var probability = double.Parse(when, NumberStyles.Float, CultureInfo.InvariantCulture);
            return probability is < 0 or > 1 ? throw new FormatException("%P needs 0 ≤ P ≤ 1") : new FaultRule(point, argument, 0, times, probability);
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
        {
            throw new FormatException($"fault rule '{raw}': {ex.Message}", ex);
        }
    }

    private static void CheckArgument(FaultPoint point, string? argument)
    {
        switch (point)
        {
            case FaultPoint.CopyErrno or FaultPoint.FirstHalfErrno or FaultPoint.SecondHalfErrno:
                if (argument is null || !Enum.TryParse<Errno>(argument, out var errno) || !InjectableErrnos.Contains(errno))
                {
                    throw new FormatException($"{NameOf(point)} needs =ERRNO, one of {string.Join(", ", InjectableErrnos)}");
                }

                break;
            case FaultPoint.SourceDelay or FaultPoint.SecondHalfDelay:
                if (argument is null || !int.TryParse(argument, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    throw new FormatException($"{NameOf(point)} needs =MILLISECONDS");
                }

                break;
            default:
                if (argument is not null)
                {
                    throw new FormatException($"{NameOf(point)} takes no argument");
                }

                break;
        }
    }
}
