using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Hosting;
using Xunit;

namespace LazyActors.Hosting.Tests;

/// <summary>
/// The engine wired into an actor system built by Akka.Hosting, as <c>serve</c> does (<see cref="RestoreJobsHostingExtensions.WithRestoreJobs"/>):
/// the jobs actor in the registry, the engine's dispatcher and settings, job supervisors as its children, one that
/// crashes stopped alone.
/// </summary>
public sealed class RestoreJobsWiringSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(nameof(RestoreJobsWiringSpecs), output)
{
    private static readonly Config Engine = ConfigurationFactory.ParseString("""
        lazy-actors.engine.dispatcher.dedicated-thread-pool.thread-count = 3
        lazy-actors.engine.copy-slice = 256KiB
        """);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) => builder.WithRestoreJobs(Engine);

    [Fact]
    public async Task WithRestoreJobs_must_register_the_jobs_actor_under_user_jobs()
    {
        var jobs = await ActorRegistry.GetAsync<RestoreJobsActor>(Ct);
        Assert.Equal("/user/jobs", jobs.Path.ToStringWithoutAddress());
        Assert.Equal(0, await jobs.Ask<int>(RestoreJobsActor.CountJobs.Instance, TimeSpan.FromSeconds(5), Ct));
    }

    [Fact]
    public void WithRestoreJobs_must_give_the_system_the_engine_dispatcher_and_settings()
    {
        Assert.True(Sys.Dispatchers.HasDispatcher(EngineSettings.DispatcherId));
        Assert.Equal(3, Sys.Settings.Config.GetInt("lazy-actors.engine.dispatcher.dedicated-thread-pool.thread-count"));
        var settings = EngineSettings.Create(Sys.Settings.Config, "/tmp");
        Assert.Equal(256 * 1024, settings.CopySliceBytes);
        Assert.Equal(3, settings.DispatcherThreads);
    }

    [Fact]
    public async Task Jobs_actor_must_refuse_a_second_live_job_of_the_same_name_and_forget_ended_ones()
    {
        var jobs = await ActorRegistry.GetAsync<RestoreJobsActor>(Ct);
        var idle = Props.Create(() => new IdleActor());
        var first = await jobs.Ask<RestoreJobsActor.Started>(new RestoreJobsActor.Start("same", idle), TimeSpan.FromSeconds(5), Ct);
        Assert.Equal("/user/jobs/same", first.Supervisor.Path.ToStringWithoutAddress());
        await Assert.ThrowsAsync<InvalidActorNameException>(() => jobs.Ask<RestoreJobsActor.Started>(new RestoreJobsActor.Start("same", idle), TimeSpan.FromSeconds(5), Ct));
        Assert.True(await first.Supervisor.GracefulStop(TimeSpan.FromSeconds(5)));
        await AwaitAssertAsync(async () => Assert.Equal(0, await jobs.Ask<int>(RestoreJobsActor.CountJobs.Instance, TimeSpan.FromSeconds(5), Ct)), cancellationToken: Ct);
        var again = await jobs.Ask<RestoreJobsActor.Started>(new RestoreJobsActor.Start("same", idle), TimeSpan.FromSeconds(5), Ct);
        Assert.False(again.Supervisor.IsNobody());
    }

    [Fact]
    public async Task A_job_supervisor_that_crashes_must_be_stopped_alone()
    {
        var jobs = await ActorRegistry.GetAsync<RestoreJobsActor>(Ct);
        var steady = await jobs.Ask<RestoreJobsActor.Started>(new RestoreJobsActor.Start("steady", Props.Create(() => new IdleActor())), TimeSpan.FromSeconds(5), Ct);
        var fragile = await jobs.Ask<RestoreJobsActor.Started>(new RestoreJobsActor.Start("fragile", Props.Create(() => new CrashingActor())), TimeSpan.FromSeconds(5), Ct);
        var probe = CreateTestProbe();
        await probe.WatchAsync(fragile.Supervisor);
        await probe.WatchAsync(steady.Supervisor);
        await EventFilter.Exception<InvalidOperationException>().ExpectOneAsync(() =>
        {
            fragile.Supervisor.Tell("crash");
            return Task.CompletedTask;
        }, Ct);
        await probe.ExpectTerminatedAsync(fragile.Supervisor, TimeSpan.FromSeconds(5), cancellationToken: Ct);
        steady.Supervisor.Tell("ping", probe.Ref);
        await probe.ExpectMsgAsync("pong", TimeSpan.FromSeconds(5), cancellationToken: Ct);
        Assert.Equal(1, await jobs.Ask<int>(RestoreJobsActor.CountJobs.Instance, TimeSpan.FromSeconds(5), Ct));
    }

    private sealed class IdleActor : ReceiveActor
    {
        public IdleActor() => Receive<string>(m => m == "ping", _ => Sender.Tell("pong"));
    }

    private sealed class CrashingActor : ReceiveActor
    {
        public CrashingActor() => Receive<string>(_ => throw new InvalidOperationException("a bug in one job"));
    }
}
