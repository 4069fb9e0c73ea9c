namespace LazyActors.Engine.Configuration;

/// <summary>
/// How a remote restore uses its page source (<c>lazy-actors.engine.remote</c>; every default in Reference.conf):
/// connections, request sizes, the reply deadline and recovery.
/// </summary>
public sealed record RemoteFetchSettings
{
    /// <summary>Requests on the wire per connection, at most.</summary>
    public required int MaxRequestsInFlight { get; init; }

    /// <summary>Whether faults get a connection of their own.</summary>
    public required FaultConnectionMode FaultConnection { get; init; }

    /// <summary>Largest background request on a bulk connection (with a fault connection).</summary>
    public required int BulkRequestBytes { get; init; }

    /// <summary>Background bytes on the wire at most, over all bulk connections.</summary>
    public required long BulkInFlightBytes { get; init; }

    /// <summary>
    /// Connections carrying background data when the source serves a fault connection too (<c>remote.bulk-connections</c>):
    /// with more than one, replies are received on as many reader threads at once.
    /// </summary>
    public int BulkConnections { get; init; } = 2;

    /// <summary>Largest background request on a connection shared with faults.</summary>
    public required int SharedBackgroundRequestBytes { get; init; }

    /// <summary>Background requests on the wire at most on a connection shared with faults.</summary>
    public required int SharedBackgroundInFlight { get; init; }

    /// <summary>A reply later than this, once next in line, marks the source as stalled.</summary>
    public required TimeSpan ReplyTimeout { get; init; }

    /// <summary>Bound on one connection attempt (resolution, TCP, TLS).</summary>
    public required TimeSpan ConnectTimeout { get; init; }

    /// <summary>First delay between reconnection attempts (doubling up to <see cref="ReconnectBackoffMax"/>).</summary>
    public required TimeSpan ReconnectBackoffMin { get; init; }

    /// <summary>Longest delay between reconnection attempts.</summary>
    public required TimeSpan ReconnectBackoffMax { get; init; }

    /// <summary>Without a reply from the source for this long after it was lost, the restore is given up.</summary>
    public required TimeSpan GiveUpAfter { get; init; }

    /// <summary>How the restored tree is stopped on give-up.</summary>
    public required TreeStopSignal StopSignal { get; init; }

    /// <summary>Bound on the closing PS_IOV_CLOSE exchange.</summary>
    public required TimeSpan CloseTimeout { get; init; }

    /// <summary>Replaces <see cref="EngineSettings.ChunksInFlightPerTask"/> in a remote restore.</summary>
    public required int ChunksInFlightPerTask { get; init; }

    /// <summary>Replaces <see cref="EngineSettings.BackgroundTasksAtOnce"/> in a remote restore.</summary>
    public required int BackgroundTasksAtOnce { get; init; }

    /// <summary>Replaces <see cref="EngineSettings.FaultReadAheadMaxBytes"/> in a remote restore.</summary>
    public required int FaultReadAheadMaxBytes { get; init; }

    /// <summary>Replaces <see cref="EngineSettings.BulkBuffers"/> in a remote restore.</summary>
    public required int BulkBuffers { get; init; }

    /// <summary>
    /// A bulk reply's data is read once this much of it (or all of it, when less is left) is in the socket: one wake-up
    /// and one read per this many bytes instead of one per segment. 0: every segment wakes the reader.
    /// </summary>
    public int ReceiveLowWaterBytes { get; init; }

    /// <summary>
    /// The connections' replies are read with one blocking recv(MSG_WAITALL) each and their requests sent with blocking
    /// sends, outside .NET's socket engine (<c>remote.direct-io</c>; see <see cref="Protocol.Client.PageServerClientOptions.DirectIo"/>).
    /// </summary>
    public bool DirectIo { get; init; }

    /// <summary>
    /// Background receive buffers of 2 MiB and more are transparent huge pages (MADV_HUGEPAGE): the replies written into
    /// them fault once per 2 MiB instead of once per page (on by default).
    /// </summary>
    public bool HugePageBuffers { get; init; }

    /// <summary>
    /// Receive buffers (fault and background) carved out of one arena each, written once while the daemon waits for the
    /// restorer, so no reply is received into a page it faults on (<c>remote.receive-arena</c>; see
    /// <see cref="Pages.ArenaBufferPool"/>).
    /// </summary>
    public bool ReceiveArena { get; init; }

    /// <summary>
    /// <see cref="EngineSettings.DispatcherIdleSpin"/> in a remote restore (<c>remote.dispatcher-idle-spin</c>); null
    /// ("same") keeps the engine's own.
    /// </summary>
    public bool? DispatcherIdleSpin { get; init; }

    /// <summary>
    /// A fault on a page whose background read is still on its way asks the fault path for a window of its own instead
    /// of waiting for that whole read (<c>remote.fault-overtakes-background</c>); becomes
    /// <see cref="EngineSettings.FaultOvertakesBackgroundReads"/> in a remote restore.
    /// </summary>
    public bool FaultOvertakesBackground { get; init; }

    /// <summary>
    /// Bytes of each task read while `criu restore` still runs (<c>remote.prefetch-during-restore</c>; 0 = off); becomes
    /// <see cref="EngineSettings.PrefetchDuringRestoreBytes"/> in a remote restore.
    /// </summary>
    public long PrefetchDuringRestoreBytes { get; init; }

    /// <summary>The Akka transport's sizes (<c>remote.akka</c>).</summary>
    public AkkaTransportSettings Akka { get; init; } = AkkaTransportSettings.Default;

    internal static RemoteFetchSettings Read(RequiredKeys keys) => new()
    {
        Akka = AkkaTransportSettings.Read(keys),
        MaxRequestsInFlight = keys.Int("remote.max-requests-in-flight"),
        FaultConnection = keys.OneOf("remote.fault-connection", ("auto", FaultConnectionMode.Auto), ("on", FaultConnectionMode.On), ("off", FaultConnectionMode.Off)),
        BulkRequestBytes = keys.SmallBytes("remote.bulk-request"),
        BulkInFlightBytes = keys.Bytes("remote.bulk-in-flight"),
        BulkConnections = keys.Int("remote.bulk-connections"),
        SharedBackgroundRequestBytes = keys.SmallBytes("remote.shared-background-request"),
        SharedBackgroundInFlight = keys.Int("remote.shared-background-in-flight"),
        ReplyTimeout = keys.Duration("remote.reply-timeout"),
        ConnectTimeout = keys.Duration("remote.connect-timeout"),
        ReconnectBackoffMin = keys.Duration("remote.reconnect-backoff-min"),
        ReconnectBackoffMax = keys.Duration("remote.reconnect-backoff-max"),
        GiveUpAfter = keys.Duration("remote.give-up-after"),
        StopSignal = keys.OneOf("remote.stop-signal", ("KILL", TreeStopSignal.Kill), ("TERM", TreeStopSignal.Term), ("STOP", TreeStopSignal.Stop)),
        CloseTimeout = keys.Duration("remote.close-timeout"),
        ChunksInFlightPerTask = keys.Int("remote.chunks-in-flight-per-task"),
        BackgroundTasksAtOnce = keys.Int("remote.background-tasks-at-once"),
        FaultReadAheadMaxBytes = keys.SmallBytes("remote.fault-read-ahead-max"),
        BulkBuffers = keys.Int("remote.bulk-buffers"),
        ReceiveLowWaterBytes = keys.SmallBytes("remote.receive-low-water"),
        DirectIo = keys.Boolean("remote.direct-io"),
        HugePageBuffers = keys.Boolean("remote.huge-page-buffers"),
        ReceiveArena = keys.Boolean("remote.receive-arena"),
        DispatcherIdleSpin = keys.OneOf<bool?>("remote.dispatcher-idle-spin", ("same", null), ("on", true), ("off", false)),
        FaultOvertakesBackground = keys.Boolean("remote.fault-overtakes-background"),
        PrefetchDuringRestoreBytes = keys.BytesOr("remote.prefetch-during-restore", "off") ?? 0,
    };

    /// <summary>Checks the values; <paramref name="invalid"/> builds the error naming the key.</summary>
    internal void Validate(Func<string, string, Exception> invalid)
    {
        Akka.Validate(invalid);
        if (BulkConnections is < 1 or > 8)
        {
            throw invalid("remote.bulk-connections", $"must be 1 to 8, got {BulkConnections}");
        }

        if (PrefetchDuringRestoreBytes < 0)
        {
            throw invalid("remote.prefetch-during-restore", $"must be a size or off, got {PrefetchDuringRestoreBytes}");
        }

        foreach (var (key, value) in new (string, long)[] { ("remote.bulk-request", BulkRequestBytes), ("remote.shared-background-request", SharedBackgroundRequestBytes) })
        {
            if (value < (long)Ranges.PageGeometry.PageSize || value % (long)Ranges.PageGeometry.PageSize != 0)
            {
                throw invalid(key, $"must be a positive multiple of {Ranges.PageGeometry.PageSize} bytes, got {value}");
            }
        }

        if (FaultReadAheadMaxBytes < (int)Ranges.PageGeometry.PageSize || FaultReadAheadMaxBytes % (int)Ranges.PageGeometry.PageSize != 0)
        {
            throw invalid("remote.fault-read-ahead-max", $"must be a positive multiple of {Ranges.PageGeometry.PageSize} bytes, got {FaultReadAheadMaxBytes}");
        }

        foreach (var (key, value) in new (string, int)[] { ("remote.chunks-in-flight-per-task", ChunksInFlightPerTask), ("remote.background-tasks-at-once", BackgroundTasksAtOnce), ("remote.bulk-buffers", BulkBuffers) })
        {
            if (value < 1)
            {
                throw invalid(key, $"must be at least 1, got {value}");
            }
        }

        if (ReceiveLowWaterBytes < 0)
        {
            throw invalid("remote.receive-low-water", $"must be 0 (off) or a number of bytes, got {ReceiveLowWaterBytes}");
        }

        if (MaxRequestsInFlight < 2)
        {
            throw invalid("remote.max-requests-in-flight", $"must be at least 2, got {MaxRequestsInFlight}");
        }

        if (SharedBackgroundInFlight < 1 || SharedBackgroundInFlight >= MaxRequestsInFlight)
        {
            throw invalid("remote.shared-background-in-flight", $"must be at least 1 and below max-requests-in-flight ({MaxRequestsInFlight}), got {SharedBackgroundInFlight}");
        }

        if (BulkInFlightBytes < BulkRequestBytes)
        {
            throw invalid("remote.bulk-in-flight", $"({BulkInFlightBytes} bytes) must be at least bulk-request ({BulkRequestBytes} bytes)");
        }

        foreach (var (key, value) in new (string, TimeSpan)[]
        {
            ("remote.reply-timeout", ReplyTimeout), ("remote.connect-timeout", ConnectTimeout), ("remote.reconnect-backoff-min", ReconnectBackoffMin),
            ("remote.reconnect-backoff-max", ReconnectBackoffMax), ("remote.close-timeout", CloseTimeout),
        })
        {
            if (value <= TimeSpan.Zero)
            {
                throw invalid(key, $"must be positive, got {value}");
            }
        }

        if (ReconnectBackoffMax < ReconnectBackoffMin)
        {
            throw invalid("remote.reconnect-backoff-max", $"({ReconnectBackoffMax}) must not be below reconnect-backoff-min ({ReconnectBackoffMin})");
        }

        if (GiveUpAfter < TimeSpan.Zero)
        {
            throw invalid("remote.give-up-after", $"must not be negative, got {GiveUpAfter}");
        }
    }
}
