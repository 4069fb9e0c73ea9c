using Akka.Configuration;

namespace LazyActors.Host.Service;

/// <summary>The engine's HOCON as the service resolved and checked it at start (<see cref="ServiceConfiguration.EngineHocon"/>).</summary>
/// <param name="Config">HOCON with the <c>lazy-actors.engine</c> overrides (falls back to the engine's reference).</param>
public sealed record EngineHocon(Config Config);
