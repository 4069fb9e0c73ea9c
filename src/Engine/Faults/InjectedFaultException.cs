namespace LazyActors.Engine.Faults;

/// <summary>An exception a <see cref="FaultPlan"/> asked for: thrown inside an actor, or as a page source's error.</summary>
public sealed class InjectedFaultException : Exception
{
    /// <summary>Creates the exception for <paramref name="point"/>.</summary>
    public InjectedFaultException(FaultPoint point, string where)
        : base($"injected fault {FaultPlan.NameOf(point)} in {where}")
    {
        Point = point;
    }

    /// <summary>Creates the exception (for serializers and analyzers; prefer the point's constructor).</summary>
    public InjectedFaultException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public InjectedFaultException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public InjectedFaultException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>Where it was injected.</summary>
    public FaultPoint Point { get; }
}
