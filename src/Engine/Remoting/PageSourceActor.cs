using Akka.Actor;
using Akka.Event;
using Google.Protobuf;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol;
using LazyActors.Engine.Protocol.Server;
using LazyActors.Engine.Remoting.Wire;

namespace LazyActors.Engine.Remoting;

/// <summary>
/// The source of the Akka transport (<c>page-server --transport akka</c>): it answers a destination's
/// <see cref="CheckpointRequest"/> with the checkpoint's metadata and its <see cref="PageRequest"/>s with the pages,
/// from the read-only mappings of the pages files (<see cref="LazyPageStore"/>, the same lookups and clamping as our
/// CRIU-protocol page server). Its mailbox (<see cref="PageRequestMailbox"/>) serves faults ahead of queued bulk
/// requests. Stateless per destination: any number of destinations and restores at once, and a destination that
/// reconnects after a restart of this process simply asks again. A destination that asks where bulk pages may be
/// fetched (<see cref="BulkEndpointRequest"/>) is told the page server its host runs beside this actor, if any.
/// </summary>
public sealed class PageSourceActor : ReceiveActor
{
    /// <summary>The actor's name under <c>/user</c>.</summary>
    public const string Name = "page-source";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly LazyPageStore _store;
    private readonly string _checkpointName;
    private readonly int _maxReplyPages;
    private readonly CheckpointMetadata _metadata;
    private readonly HashSet<Address> _destinations = [];
    private readonly SourceCounters _counters;
    private readonly BulkEndpoint _bulk;

    /// <summary>Use <see cref="Props"/>.</summary>
    public PageSourceActor(LazyPageStore store, string checkpointName, int maxReplyBytes, SourceCounters counters, BulkEndpoint? bulk = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(counters);
        _store = store;
        _checkpointName = checkpointName;
        _counters = counters;
        _maxReplyPages = maxReplyBytes >> Ranges.PageGeometry.PageShift;
        _metadata = CheckpointDescription.Of(store.Checkpoint, checkpointName, maxReplyBytes, store.ServedPages);
        _bulk = bulk ?? new BulkEndpoint();
        Receive<PageRequest>(Serve);
        Receive<CheckpointRequest>(Describe);
        Receive<BulkEndpointRequest>(request =>
        {
            var answer = _bulk.Clone();
            answer.RequestId = request.RequestId;
            Sender.Tell(answer);
        });
    }

    /// <summary>
    /// Props of the source of <paramref name="store"/>, named <paramref name="checkpointName"/>, with its priority mailbox;
    /// <paramref name="bulk"/> is the page server over the same store that destinations are told to fetch bulk pages
    /// from (null: none, bulk pages go as messages).
    /// </summary>
    public static Props Props(LazyPageStore store, string checkpointName, int maxReplyBytes, SourceCounters counters, BulkEndpoint? bulk = null) =>
        Akka.Actor.Props.Create(() => new PageSourceActor(store, checkpointName, maxReplyBytes, counters, bulk)).WithMailbox("lazy-actors.source-mailbox");

    private void Describe(CheckpointRequest request)
    {
        NoteDestination();
        if (request.Checkpoint.Length > 0 && request.Checkpoint != _checkpointName)
        {
            _log.Warning("{Destination} asked for checkpoint '{Asked}'; this source serves '{Served}'", Sender.Path.Address, request.Checkpoint, _checkpointName);
            Sender.Tell(new CheckpointUnavailable
            {
                RequestId = request.RequestId,
                Checkpoint = request.Checkpoint,
                Reason = $"this source serves the checkpoint '{_checkpointName}' only",
            });
            return;
        }

        var metadata = _metadata.Clone();
        metadata.RequestId = request.RequestId;
        Sender.Tell(metadata);
    }

    private void Serve(PageRequest request)
    {
        NoteDestination();
        var asked = Math.Min(request.Pages, (uint)_maxReplyPages);
        PageLookup lookup;
        nint data;
        try
        {
            lookup = _store.Find((ulong)Math.Max(request.Pid, 0), request.Vaddr, asked, out data);
        }
        catch (ImageFormatException e)
        {
            Refuse(request, e.Message);
            return;
        }

        if (lookup.Result != PageLookupResult.Found)
        {
            Refuse(request, lookup.Reason);
            return;
        }

        int bytes = checked((int)((long)lookup.Pages << Ranges.PageGeometry.PageShift));
        // The data stays in the mapping of the pages file (open as long as this process serves): the serializer copies
        // it once, into the frame.
        var reply = new PageReply
        {
            Id = request.Id,
            Pid = request.Pid,
            Vaddr = request.Vaddr,
            Pages = (uint)lookup.Pages,
            Data = UnsafeByteOperations.UnsafeWrap(new NativeMemoryManager(data, bytes).Memory),
        };
        _counters.Served(request.Priority == Priority.Fault, bytes);
        _counters.ServedTo(Sender.Path.Address.ToString(), bytes);
        Sender.Tell(reply);
    }

    private void Refuse(PageRequest request, string reason)
    {
        _log.Error("{Destination} asked pid {Pid} 0x{Vaddr:x}+{Pages}p, which this source does not hold: {Reason}", Sender.Path.Address, request.Pid, request.Vaddr, request.Pages, reason);
        _counters.Refusal();
        Sender.Tell(new PageError { Id = request.Id, Pid = request.Pid, Vaddr = request.Vaddr, Reason = reason });
    }

    private void NoteDestination()
    {
        if (_destinations.Add(Sender.Path.Address))
        {
            _log.Info("destination {Destination} connected", Sender.Path.Address);
            _counters.Destination();
        }
    }
}
