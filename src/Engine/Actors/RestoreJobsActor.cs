using Akka.Actor;
using LazyActors.Engine.Configuration;

namespace LazyActors.Engine.Actors;

/// <summary>
/// The parent of every restore served inside a long-lived actor system (<c>/user/jobs</c>): one
/// <see cref="RestoreSupervisor"/> child per job, all on the engine's dispatcher. A job's supervisor that fails is
/// stopped alone (its restore fails with the reason; the other jobs go on): the jobs never share mutable state, only
/// the dispatcher, the scheduling settings and the read-only checkpoints.
/// </summary>
public sealed class RestoreJobsActor : EngineActor
{
    /// <summary>Props of the jobs actor.</summary>
    public static Props Props() => Akka.Actor.Props.Create(() => new RestoreJobsActor()).WithDispatcher(EngineSettings.DispatcherId);

    /// <summary>Starts the supervisor of job <paramref name="Name"/>; the sender gets <see cref="Started"/> or a
    /// <see cref="Status.Failure"/> (a name already in use).</summary>
    /// <param name="Name">The job's actor name (unique among live jobs; a valid actor name).</param>
    /// <param name="Supervisor">The supervisor's props (<see cref="RestoreSupervisor.Props"/>).</param>
    public sealed record Start(string Name, Props Supervisor) : INoSerializationVerificationNeeded;

    /// <summary>The supervisor of a started job.</summary>
    public sealed record Started(IActorRef Supervisor) : INoSerializationVerificationNeeded;

    /// <summary>Asks for the number of live job supervisors (replied with an <see cref="int"/>).</summary>
    public sealed class CountJobs : INoSerializationVerificationNeeded
    {
        /// <summary>The instance.</summary>
        public static readonly CountJobs Instance = new();

        private CountJobs()
        {
        }
    }

    private readonly HashSet<IActorRef> _jobs = [];

    /// <summary>Use <see cref="Props"/>.</summary>
    public RestoreJobsActor()
    {
        Receive<Start>(OnStart);
        Receive<CountJobs>(_ => Sender.Tell(_jobs.Count));
        Receive<Terminated>(terminated => _jobs.Remove(terminated.ActorRef));
    }

    /// <inheritdoc />
    protected override SupervisorStrategy SupervisorStrategy() => JobSupervision.Instance;

    private void OnStart(Start start)
    {
        if (!Context.Child(start.Name).IsNobody())
        {
            Sender.Tell(new Status.Failure(new InvalidActorNameException($"a job named {start.Name} is already running")));
            return;
        }

        try
        {
            var supervisor = Context.ActorOf(start.Supervisor, start.Name);
            Context.Watch(supervisor);
            _jobs.Add(supervisor);
            Sender.Tell(new Started(supervisor));
        }
        catch (InvalidActorNameException ex)
        {
            Sender.Tell(new Status.Failure(ex));
        }
    }

    /// <summary>A job's supervisor that throws is a bug in that job: it is stopped (its restore fails with the reason
    /// its PostStop records), never restarted with lost state, and no other job is touched.</summary>
    private sealed class JobSupervision : OneForOneStrategy
    {
        public static readonly JobSupervision Instance = new();

        private JobSupervision()
            : base(_ => Directive.Stop)
        {
        }
    }
}
