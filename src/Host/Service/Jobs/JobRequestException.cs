namespace LazyActors.Host.Service.Jobs;

/// <summary>Why a request about jobs cannot be done; the control API maps <see cref="Kind"/> to a gRPC status.</summary>
public sealed class JobRequestException : Exception
{
    /// <summary>A refused request.</summary>
    public JobRequestException(JobRequestError kind, string message)
        : base(message)
    {
        Kind = kind;
    }

    /// <summary>What kind of refusal.</summary>
    public JobRequestError Kind { get; }
}

/// <summary>Kinds of refused job requests.</summary>
public enum JobRequestError
{
    /// <summary>The request itself is wrong (missing or bad field, directory that does not exist, unreadable images).</summary>
    Invalid,

    /// <summary>No such job.</summary>
    NotFound,

    /// <summary>The work directory is already served by a running job.</summary>
    AlreadyServed,

    /// <summary>Too many jobs run at once.</summary>
    TooMany,

    /// <summary>The service is draining (stopping) and takes no new job.</summary>
    Draining,
}
