namespace LazyActors.Engine.Configuration;

/// <summary>
/// The Akka transport of remote restores (<c>lazy-actors.engine.remote.akka</c>; defaults in Reference.conf): one
/// association carries faults and bulk data, so bulk requests stay small and few enough on the wire (the credit window)
/// that a fault waits behind little; frames are sized for the largest reply.
/// </summary>
public sealed record AkkaTransportSettings
{
    /// <summary>The defaults of Reference.conf.</summary>
    public static readonly AkkaTransportSettings Default = new();

    /// <summary>Largest bulk request (bytes of pages).</summary>
    public int BulkRequestBytes { get; init; } = 64 * 1024;

    /// <summary>The credit window: bulk bytes asked and not yet answered, at most.</summary>
    public long BulkInFlightBytes { get; init; } = 4L * 1024 * 1024;

    /// <summary>The source's largest reply; the remoting frame limit is set above it.</summary>
    public int MaxReplyBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// Bulk pages over a plain connection the source offers (a CRIU-protocol page server beside its actor) instead of
    /// Akka.Remote messages; faults stay Akka messages. Off, or a source that offers none: bulk goes as messages too.
    /// </summary>
    public bool BulkConnection { get; init; } = true;

    /// <summary>The remoting frame limit: the largest reply plus room for its header.</summary>
    public int MaximumFrameBytes => MaxReplyBytes + (64 * 1024);

    internal static AkkaTransportSettings Read(RequiredKeys keys) => new()
    {
        BulkRequestBytes = keys.SmallBytes("remote.akka.bulk-request"),
        BulkInFlightBytes = keys.Bytes("remote.akka.bulk-in-flight"),
        MaxReplyBytes = keys.SmallBytes("remote.akka.max-reply"),
        BulkConnection = keys.Boolean("remote.akka.bulk-connection"),
    };

    internal void Validate(Func<string, string, Exception> invalid)
    {
        if (BulkRequestBytes < 4096 || BulkRequestBytes % 4096 != 0)
        {
            throw invalid("remote.akka.bulk-request", "must be a positive multiple of 4 KiB");
        }

        if (MaxReplyBytes < 4096 || MaxReplyBytes % 4096 != 0 || MaxReplyBytes > 64 * 1024 * 1024)
        {
            throw invalid("remote.akka.max-reply", "must be a multiple of 4 KiB between 4 KiB and 64 MiB");
        }

        if (BulkInFlightBytes < BulkRequestBytes)
        {
            throw invalid("remote.akka.bulk-in-flight", "must hold at least one bulk-request");
        }
    }
}
