using LazyActors.Engine.Metrics;

namespace LazyActors.Engine.Faults;

/// <summary>
/// The faults of one restore, made from a <see cref="FaultPlan"/>: counts each point's occurrences and decides, by the
/// plan's rules and its seeded random numbers, which of them fail. Created only when a plan is configured, so when
/// fault injection is off an injection point costs one null test. Thread-safe.
/// </summary>
public sealed class FaultInjector
{
    private static readonly int PointCount = Enum.GetValues<FaultPoint>().Length;

    private readonly FaultRule[][] _rulesByPoint;
    private readonly int[] _fired;
    private readonly long[] _seen;
    private readonly long[] _injected;
    private readonly Random _random;
    private readonly Lock _lock = new();

    /// <summary>An injector for <paramref name="plan"/>.</summary>
    public FaultInjector(FaultPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        Plan = plan;
        _random = new Random(plan.Seed);
        _rulesByPoint = new FaultRule[PointCount][];
        for (var p = 0; p < PointCount; p++)
        {
            _rulesByPoint[p] = [.. plan.Rules.Where(r => (int)r.Point == p)];
        }

        _fired = new int[plan.Rules.Count];
        _seen = new long[PointCount];
        _injected = new long[PointCount];
    }

    /// <summary>The plan.</summary>
    public FaultPlan Plan { get; }

    /// <summary>Faults injected so far, all points together.</summary>
    public long TotalInjected
    {
        get
        {
            lock (_lock)
            {
                return _injected.Sum();
            }
        }
    }

    /// <summary>Faults injected so far at <paramref name="point"/>.</summary>
    public long Injected(FaultPoint point)
    {
        lock (_lock)
        {
            return _injected[(int)point];
        }
    }

    /// <summary>True when the plan has a rule for <paramref name="point"/>.</summary>
    public bool Covers(FaultPoint point) => _rulesByPoint[(int)point].Length > 0;

    /// <summary>One occurrence of <paramref name="point"/>: true (and the rule) when it is to fail.</summary>
    public bool Fires(FaultPoint point, out FaultRule rule)
    {
        rule = null!;
        var rules = _rulesByPoint[(int)point];
        if (rules.Length == 0)
        {
            return false;
        }

        lock (_lock)
        {
            var occurrence = ++_seen[(int)point];
            foreach (var candidate in rules)
            {
                var index = IndexOf(candidate);
                if (_fired[index] >= candidate.Times)
                {
                    continue;
                }

                var fires = candidate.StartAt > 0
                    ? occurrence >= candidate.StartAt
                    : _random.NextDouble() < candidate.Probability;
                if (fires)
                {
                    _fired[index]++;
                    _injected[(int)point]++;
                    EngineMeters.CountInjectedFault(FaultPlan.NameOf(point));
                    rule = candidate;
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Throws <see cref="InjectedFaultException"/> when this occurrence of <paramref name="point"/> is to fail.</summary>
    public void ThrowIfFires(FaultPoint point, string where)
    {
        if (Fires(point, out _))
        {
            throw new InjectedFaultException(point, where);
        }
    }

    /// <summary>A random number from the plan's seeded generator (in [0, <paramref name="below"/>)).</summary>
    public int Next(int below)
    {
        lock (_lock)
        {
            return _random.Next(below);
        }
    }

    private int IndexOf(FaultRule rule)
    {
        for (var i = 0; i < Plan.Rules.Count; i++)
        {
            if (ReferenceEquals(Plan.Rules[i], rule))
            {
                return i;
            }
        }

        return -1;
    }
}
