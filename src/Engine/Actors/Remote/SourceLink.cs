using LazyActors.Engine.Protocol.Client;

namespace LazyActors.Engine.Actors.Remote;

/// <summary>What a connection to the page source carries.</summary>
internal enum LinkRole
{
    /// <summary>The only connection: faults and background (CRIU's lazy servers serve one connection).</summary>
    Shared,

    /// <summary>Background data only; faults have their own connection.</summary>
    Bulk,

    /// <summary>Faults only (QEMU's postcopy-preempt idea): never behind background data.</summary>
    Faults,
}

/// <summary>One connection to the page source and the pieces on its wire (owned by <see cref="RemoteFetchActor"/>).</summary>
internal sealed class SourceLink(PageServerClient client, LinkRole role)
{
    public PageServerClient Client { get; } = client;

    public LinkRole Role { get; } = role;

    /// <summary>Pieces sent and not answered, in sending order.</summary>
    public LinkedList<WirePiece> InFlight { get; } = new();

    public long BackgroundBytes { get; set; }

    public int BackgroundPieces { get; set; }

    public override string ToString() => $"{Role.ToString().ToLowerInvariant()} connection to {Client.Peer}";
}

/// <summary>The connections of one generation: one shared, or bulk one(s) plus one for faults.</summary>
/// <param name="Main">Shared, or bulk when <paramref name="Faults"/> is set.</param>
/// <param name="Faults">The fault connection, or null.</param>
/// <param name="Choice">Why this shape (logged).</param>
internal sealed record SourceLinks(SourceLink Main, SourceLink? Faults, string Choice)
{
    /// <summary>Bulk connections beside <see cref="Main"/> (<c>remote.bulk-connections</c> above 1; only with a fault
    /// connection, i.e. a source that serves many): each has its own reader thread on this side and its own session
    /// thread on the source, so receiving runs on more than one CPU.</summary>
    public IReadOnlyList<SourceLink> MoreBulk { get; init; } = [];

    /// <summary>The connections background data goes over.</summary>
    public IEnumerable<SourceLink> Bulk => MoreBulk.Count == 0 ? [Main] : [Main, .. MoreBulk];

    public IEnumerable<SourceLink> All => Faults is null ? [Main, .. MoreBulk] : [Main, Faults, .. MoreBulk];
}
