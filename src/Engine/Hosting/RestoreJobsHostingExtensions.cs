using Akka.Configuration;
using Akka.Hosting;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Configuration;

namespace LazyActors.Engine.Hosting;

/// <summary>
/// Akka.Hosting wiring of the engine into a long-lived actor system: the engine's configuration (its dispatcher with
/// the configured threads, the reference defaults) and the <see cref="RestoreJobsActor"/> every hosted restore runs
/// under, registered in the <see cref="ActorRegistry"/> as <see cref="RestoreJobsActor"/>.
/// </summary>
public static class RestoreJobsHostingExtensions
{
    /// <summary>Adds the engine to the actor system being built, tuned by <paramref name="engineConfig"/> (HOCON with a
    /// <c>lazy-actors.engine</c> section over the reference, as <c>config/lazy-actors.hocon</c>).</summary>
    /// <param name="builder">The Akka.Hosting builder.</param>
    /// <param name="engineConfig">Overrides of the engine and Akka settings (may be empty).</param>
    /// <exception cref="ConfigurationException">A key of <c>lazy-actors.engine</c> is invalid (the message names it).</exception>
    public static AkkaConfigurationBuilder WithRestoreJobs(this AkkaConfigurationBuilder builder, Config engineConfig)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(engineConfig);

        // The dispatcher's threads as the settings resolve them (0 = one per CPU plus one), so the system runs exactly
        // what a restore's EngineSettings say. Appended: loggers and other hosting settings keep their own values.
        var settings = EngineSettings.Create(engineConfig, Path.GetTempPath());
        EngineThreadPriority.Configure(settings.EngineThreadsNice ?? int.MinValue);
        builder.AddHocon(settings.ActorSystemConfig(engineConfig), HoconAddMode.Append);
        return builder.WithActors((system, registry) =>
            registry.Register<RestoreJobsActor>(system.ActorOf(RestoreJobsActor.Props(), "jobs")));
    }
}
