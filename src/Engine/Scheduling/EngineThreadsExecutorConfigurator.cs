using Akka.Configuration;
using Akka.Dispatch;

namespace LazyActors.Engine.Scheduling;

/// <summary>
/// Akka's hook for <see cref="EngineThreadsExecutor"/>: a dispatcher of <c>type = Dispatcher</c> with
/// <c>executor = "LazyActors.Engine.Scheduling.EngineThreadsExecutorConfigurator, LazyActors.Engine"</c> runs on that many
/// threads as its <c>dedicated-thread-pool.thread-count</c> says (0 is resolved by the engine settings before Akka sees
/// it, as for the ForkJoinDispatcher).
/// </summary>
public sealed class EngineThreadsExecutorConfigurator : ExecutorServiceConfigurator
{
    /// <summary>The <c>executor</c> value that selects this configurator.</summary>
    public const string ExecutorName = "LazyActors.Engine.Scheduling.EngineThreadsExecutorConfigurator, LazyActors.Engine";

    private readonly int _threads;

    /// <summary>Called by Akka (by reflection) with the dispatcher's configuration.</summary>
    public EngineThreadsExecutorConfigurator(Config config, IDispatcherPrerequisites prerequisites)
        : base(config, prerequisites)
    {
        ArgumentNullException.ThrowIfNull(config);
        var threads = config.GetInt("dedicated-thread-pool.thread-count", 0);
        _threads = threads > 0 ? threads : Configuration.EngineSettings.DefaultDispatcherThreads;
    }

    /// <inheritdoc />
    public override ExecutorService Produce(string id) => new EngineThreadsExecutor(id, _threads);
}
