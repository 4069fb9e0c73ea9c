using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using LazyActors.Engine;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Hosting;
using LazyActors.Engine.Images;
using LazyActors.Engine.Remoting;
using LazyActors.Host.Logging;
using Serilog.Events;

namespace LazyActors.Host.Service.Jobs;

/// <summary>
/// The actor system of one job over the Akka transport (<c>jobs start --page-server ... --transport akka</c>): the
/// service's own system has no remoting (it listens on no TCP port, and one address could not face every source), so
/// such a job gets an engine system of its own with remoting towards its source, exactly as <c>lazy-pages --transport
/// akka</c> builds it (<see cref="LazyPagesEngine.CreateRemoteSystem"/>): it asks the source for the checkpoint before
/// the job's socket listens, then serves the restore under its own <see cref="RestoreJobsActor"/>, and is terminated
/// when the job ended. A source that cannot be reached or describes nothing usable refuses the request, naming it.
/// </summary>
internal sealed class AkkaJobSystem
{
    private static readonly TimeSpan TerminateBound = TimeSpan.FromSeconds(10);
    private readonly ActorSystem _system;

    private AkkaJobSystem(ActorSystem system, ActorPath sourcePath, string checkpointLabel, RestoreJobHost host, RestoreSource source)
    {
        _system = system;
        SourcePath = sourcePath;
        CheckpointLabel = checkpointLabel;
        Host = host;
        Source = source;
    }

    /// <summary>The source's page source actor.</summary>
    public ActorPath SourcePath { get; }

    /// <summary>Which checkpoint, as shown.</summary>
    public string CheckpointLabel { get; }

    /// <summary>The job host over this system (its own jobs actor, no JIT warm-up: the service's first job did it).</summary>
    public RestoreJobHost Host { get; }

    /// <summary>The restore's source: the described checkpoint and the Akka fetcher's page source.</summary>
    public RestoreSource Source { get; }

    /// <summary>Builds the system and asks the source for its checkpoint (bounded by the first-contact timeout).</summary>
    /// <exception cref="JobRequestException">Bad address, or the source did not describe a usable checkpoint.</exception>
    public static async Task<AkkaJobSystem> DescribeAsync(EngineSettings settings, PageServerSpec spec, Config engineHocon, SharedCheckpoints checkpoints)
    {
        ActorPath path;
        string local;
        try
        {
            path = AkkaTransport.SourcePath(spec.Address, spec.Port);
            local = AkkaTransport.LocalAddressTowards(path.Address.Host!, path.Address.Port ?? 1);
        }
        catch (Exception ex) when (ex is ArgumentException or SocketException)
        {
            throw new JobRequestException(JobRequestError.Invalid, $"page_server {spec}: {ex.Message}");
        }

        var akka = ConfigurationFactory.ParseString(HostLogging.AkkaHocon(LogEventLevel.Information) + "\nakka.coordinated-shutdown.run-by-clr-shutdown-hook = off")
            .WithFallback(engineHocon);
        var system = LazyPagesEngine.CreateRemoteSystem(settings, AkkaTransport.SystemConfig(local, 0, settings.Remote.Akka, akka));
        try
        {
            var checkpoint = await AkkaTransport.DescribeCheckpointAsync(system, path, spec.CheckpointName ?? string.Empty,
                AkkaTransport.FirstContactTimeout(settings.Remote.ConnectTimeout)).ConfigureAwait(false);
            var source = RestoreSource.OpenAkka(settings, path, checkpoint);
            var host = new RestoreJobHost(system, system.ActorOf(RestoreJobsActor.Props(), "jobs"), checkpoints) { WarmUp = false };
            return new AkkaJobSystem(system, path, spec.CheckpointName is { } name ? $"checkpoint '{name}'" : "the checkpoint", host, source);
        }
        catch (ImageFormatException ex)
        {
            TerminateNow(system);
            throw new JobRequestException(JobRequestError.Invalid, $"page_server {path}: {ex.Message}");
        }
        catch
        {
            TerminateNow(system);
            throw;
        }
    }

    /// <summary>Stops the system without waiting (a job refused before it ran).</summary>
    public void Terminate() => _ = _system.Terminate();

    /// <summary>Stops the system once the job ended (bounded).</summary>
    public async Task TerminateAsync()
    {
        try
        {
            await _system.Terminate().WaitAsync(TerminateBound).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Its restore already ended: a slow remoting shutdown is no reason to hold the job's end.
        }
    }

    private static void TerminateNow(ActorSystem system) => _ = system.Terminate();
}
