using Akka.Actor;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Client;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Actors.Remote;

/// <summary>
/// The bulk connection of an <see cref="AkkaFetchActor"/>: a CRIU-protocol page-server connection to the server the
/// source actor named (<see cref="Remoting.Wire.BulkEndpoint"/>), which carries background pieces only. Akka.NET's
/// classic remoting copies a message four to five times on each side; here the source sends a reply's pages with
/// sendfile and <see cref="PageServerClient"/> reads them straight into the read's pinned buffer, the UFFDIO_COPY source.
/// Owned by the actor (not thread-safe); replies come back to it as <see cref="Received"/> or <see cref="Failed"/>,
/// tagged with the link's generation so that a reply of a dropped connection is never taken for a current one.
/// </summary>
internal sealed class AkkaBulkLink
{
    private readonly LinkedList<AkkaPiece> _onWire = new();
    private readonly RemoteFetchSettings _settings;

    private AkkaBulkLink(PageServerClient client, int generation, RemoteFetchSettings settings)
    {
        Client = client;
        Generation = generation;
        _settings = settings;
    }

    /// <summary>The connection.</summary>
    public PageServerClient Client { get; }

    /// <summary>Replies carry it back; a dropped link's generation is never reused.</summary>
    public int Generation { get; }

    /// <summary>Background bytes asked on this connection and not yet answered.</summary>
    public long BytesOnWire { get; private set; }

    /// <summary>Pieces asked and not yet answered.</summary>
    public int PiecesOnWire => _onWire.Count;

    /// <summary>Connects to the bulk endpoint (bounded by connect-timeout).</summary>
    /// <exception cref="PageServerException">No connection.</exception>
    public static async Task<AkkaBulkLink> ConnectAsync(string host, int port, int generation, RemoteFetchSettings settings)
    {
        var client = await PageServerClient.ConnectAsync(host, port, SourceConnector.ClientOptions(settings, readerNice: null)).ConfigureAwait(false);
        return new AkkaBulkLink(client, generation, settings);
    }

    /// <summary>True while one more piece of <paramref name="bytes"/> fits: bulk-in-flight bytes and max-requests-in-flight.</summary>
    public bool HasRoomFor(long bytes) =>
        _onWire.Count < _settings.MaxRequestsInFlight && (_onWire.Count == 0 || BytesOnWire + bytes <= _settings.BulkInFlightBytes);

    /// <summary>Largest piece asked at once (remote.bulk-request).</summary>
    public int MaxPiecePages => Math.Max(_settings.BulkRequestBytes >> PageGeometry.PageShift, 1);

    /// <summary>Puts one GET on the wire; its reply is read into the piece's part of the read's buffer. False when the connection is already gone.</summary>
    public bool Send(AkkaPiece piece, IActorRef self)
    {
        piece.BulkGeneration = Generation;
        _onWire.AddLast(piece);
        BytesOnWire += piece.Bytes;
        ValueTask<int> pending;
        try
        {
            var memory = new NativeMemoryManager(piece.Read.Buffer + (nint)((long)piece.OffsetPages << PageGeometry.PageShift), checked((int)piece.Bytes)).Memory;
            pending = Client.GetPagesAsync(piece.Read.Pid, piece.DumpAddress, piece.Pages, memory, CancellationToken.None);
        }
        catch (Exception e) when (e is PageServerException or ObjectDisposedException or InvalidOperationException)
        {
            self.Tell(new Failed(piece, Generation, e));
            return false;
        }

        if (pending.IsCompletedSuccessfully)
        {
            self.Tell(new Received(piece, Generation, pending.Result));
        }
        else
        {
            _ = AwaitAsync(pending, piece, Generation, self);
        }

        return true;
    }

    /// <summary>A reply of this link arrived: the piece is no longer on the wire.</summary>
    public void Answered(AkkaPiece piece)
    {
        if (_onWire.Remove(piece))
        {
            BytesOnWire -= piece.Bytes;
        }
    }

    /// <summary>
    /// Drops the connection. The pieces that were on it come back once its reader ended (nothing writes into their
    /// buffers any more), in sending order, with the task that ends then.
    /// </summary>
    public (Task Closed, IReadOnlyList<AkkaPiece> Pieces) Drop()
    {
        var pieces = _onWire.ToList();
        _onWire.Clear();
        BytesOnWire = 0;
        return (Client.DisposeAsync().AsTask(), pieces);
    }

    private static async Task AwaitAsync(ValueTask<int> pending, AkkaPiece piece, int generation, IActorRef self)
    {
        try
        {
            self.Tell(new Received(piece, generation, await pending.ConfigureAwait(false)));
        }
        catch (Exception e)
        {
            self.Tell(new Failed(piece, generation, e));
        }
    }

    /// <summary>To the actor: the bulk connection asked for with <paramref name="Ask"/> is up.</summary>
    internal sealed record Up(AkkaBulkLink Link, long Ask) : INoSerializationVerificationNeeded;

    /// <summary>To the actor: the bulk connection asked for with <paramref name="Ask"/> could not be made.</summary>
    internal sealed record ConnectFailed(string Reason, long Ask) : INoSerializationVerificationNeeded;

    /// <summary>To the actor: <paramref name="Pages"/> pages of <paramref name="Piece"/> are in its buffer.</summary>
    internal sealed record Received(AkkaPiece Piece, int Generation, int Pages) : INoSerializationVerificationNeeded;

    /// <summary>To the actor: the connection failed with <paramref name="Piece"/> on it.</summary>
    internal sealed record Failed(AkkaPiece Piece, int Generation, Exception Error) : INoSerializationVerificationNeeded;

    /// <summary>To the actor: a dropped link's reader ended; <paramref name="Pieces"/> were on it and are asked again.</summary>
    internal sealed record Closed(IReadOnlyList<AkkaPiece> Pieces) : INoSerializationVerificationNeeded;

    /// <summary>To the actor (its timer): ask the source for a bulk endpoint again.</summary>
    internal sealed class Retry : INoSerializationVerificationNeeded
    {
        public static readonly Retry Instance = new();
    }
}
