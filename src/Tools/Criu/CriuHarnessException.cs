namespace LazyActors.Tools.Criu;

/// <summary>A step of the CRIU harness failed before any restore (start of the workload, <c>criu dump</c>); the message names the step and its log.</summary>
public sealed class CriuHarnessException : Exception
{
    /// <summary>Creates it with its message.</summary>
    public CriuHarnessException(string message)
        : base(message)
    {
    }

    /// <summary>Creates it with its message and cause.</summary>
    public CriuHarnessException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates it without a message (serialisation and analyzers' sake).</summary>
    public CriuHarnessException()
    {
    }
}
