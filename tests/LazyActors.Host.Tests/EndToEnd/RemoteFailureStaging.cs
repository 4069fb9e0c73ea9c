namespace LazyActors.Host.Tests.EndToEnd;

/// <summary>Where <see cref="RemoteRecoveryTests.A_broken_connection_is_replaced_and_what_was_in_flight_is_asked_again"/> breaks the source.</summary>
public enum RemoteFailureStaging
{
    /// <summary>
    /// The first connection: the only one without a fault connection, else the (first) bulk connection. A stall there
    /// goes unnoticed when every fault overtakes the stalled read (remote.fault-overtakes-background) and the tasks end
    /// before the reply deadline; a reset does not.
    /// </summary>
    FirstConnection,

    /// <summary>The fault connection (the second one opened, see SourceConnector): faults wait for the stalled read.</summary>
    FaultConnection,

    /// <summary>The first (bulk) connection with remote.fault-overtakes-background off: faults wait for the stalled read.</summary>
    BulkConnectionFaultsWait,
}
