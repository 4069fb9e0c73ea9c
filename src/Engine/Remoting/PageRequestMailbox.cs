using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using LazyActors.Engine.Remoting.Wire;

namespace LazyActors.Engine.Remoting;

/// <summary>
/// The source actor's mailbox: a fault request overtakes every bulk request still queued (then arrival order within
/// each class), so a blocked task never waits behind background data the source has not started on.
/// </summary>
public sealed class PageRequestMailbox : UnboundedStablePriorityMailbox
{
    /// <summary>Created by Akka from <c>lazy-actors.source-mailbox</c>.</summary>
    public PageRequestMailbox(Settings settings, Config config)
        : base(settings, config)
    {
    }

    /// <inheritdoc />
    protected override int PriorityGenerator(object message) => message switch
    {
        PageRequest { Priority: Priority.Fault } => 0,
        CheckpointRequest => 0,
        PageRequest => 2,
        _ => 1,
    };
}
