using LazyActors.Engine.Configuration;

namespace LazyActors.Engine.Actors;

/// <summary>
/// When to try a UFFDIO_COPY/ZEROPAGE again after EAGAIN (spec §2.5: the kernel, or our uffd gate, refuses copies
/// while a FORK/REMAP/REMOVE/UNMAP event is unread or unapplied). The first retries go right behind whatever the
/// mailbox holds, since the event that caused EAGAIN is usually in it; then the delay doubles from 500 µs up to
/// eagain-max-backoff; after eagain-retry-limit retries without progress the task is failed.
/// </summary>
internal sealed class EagainRetryPolicy
{
    private const double FirstBackoffMicroseconds = 500;
    private readonly int _immediateRetries;
    private readonly TimeSpan _maxBackoff;

    public EagainRetryPolicy(int immediateRetries, TimeSpan maxBackoff, int retryLimit)
    {
        _immediateRetries = immediateRetries;
        _maxBackoff = maxBackoff;
        RetryLimit = retryLimit;
    }

    /// <summary>Retries allowed without progress.</summary>
    public int RetryLimit { get; }

    public static EagainRetryPolicy From(EngineSettings settings) =>
        new(settings.EagainImmediateRetries, settings.EagainMaxBackoff, settings.EagainRetryLimit);

    /// <summary>True while retry number <paramref name="retry"/> (1 = the first) may still be made.</summary>
    public bool MayRetry(int retry) => retry <= RetryLimit;

    /// <summary>How long to wait before retry number <paramref name="retry"/>; null = at once, after the messages the
    /// mailbox already holds.</summary>
    public TimeSpan? DelayBefore(int retry)
    {
        if (retry <= _immediateRetries)
        {
            return null;
        }

        var exponent = Math.Min(retry - _immediateRetries, 16);
        return TimeSpan.FromMicroseconds(Math.Min(_maxBackoff.TotalMicroseconds, FirstBackoffMicroseconds * Math.Pow(2, exponent - 1)));
    }
}
