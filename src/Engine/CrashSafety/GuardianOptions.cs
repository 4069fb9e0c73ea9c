using LazyActors.Engine.Configuration;

namespace LazyActors.Engine.CrashSafety;

/// <summary>What a guardian needs besides its channel.</summary>
/// <param name="DaemonPid">The daemon it guards first (the process the user started).</param>
/// <param name="ImagesDirectory">The checkpoint (read only on a give-up, to name what was lost).</param>
/// <param name="PidFile">The <c>--pidfile</c> to point at each successor (absolute), or null.</param>
/// <param name="StatusFile">Written with the error when the guardian gives up (absolute).</param>
/// <param name="Settings">Restart budget, give-up time, stop signal.</param>
/// <param name="DescriptionFile">Where a restore over the Akka transport keeps its checkpoint's description
/// (<see cref="DescribedCheckpoint"/>): read on a give-up when the images directory holds no checkpoint.</param>
public sealed record GuardianOptions(int DaemonPid, string ImagesDirectory, string? PidFile, string StatusFile, CrashSafetySettings Settings, string? DescriptionFile = null);
