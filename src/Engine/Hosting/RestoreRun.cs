using System.Diagnostics;
using Akka.Actor;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Faults;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Hosting;

/// <summary>
/// The one way a restore is served, shared by the one-shot <see cref="LazyPagesEngine"/> (which owns its actor system)
/// and <see cref="RestoreJob"/> (a restore inside a long-lived system): open the source, start the uffd hub, spawn the
/// <see cref="RestoreSupervisor"/> where the caller says, wait for its outcome, stop it, then release everything in the
/// order the actors need (nothing a live actor may still touch is disposed).
/// </summary>
internal static class RestoreRun
{
    /// <summary>How the caller places the supervisor and ends the run.</summary>
    /// <param name="Spawn">Creates the supervisor from its props (a top-level actor, or a child of the jobs actor).</param>
    /// <param name="WarmUp">Runs the JIT warm-up beside the restore, or null; awaited before the supervisor stops.</param>
    /// <param name="StopAsync">Stops the supervisor (and with it every actor of the restore); true once they all stopped.</param>
    internal sealed record Placement(
        Func<Props, Task<IActorRef>> Spawn,
        Func<IUffdHub, Task>? WarmUp,
        Func<IActorRef?, Task<bool>> StopAsync)
    {
        /// <summary>Runs once the restore's outcome is known, before anything is stopped (the one-shot daemon lowers
        /// its threads there, <c>scheduling.after-restore-nice</c>), or null.</summary>
        public Action? Completed { get; init; }
    }

    public static async Task<EngineResult> ServeAsync(
        EngineSettings settings,
        SafeFdHandle listener,
        EngineStatistics statistics,
        Func<RestoreSource> openSource,
        Func<Action<Exception>, IUffdHub>? hubFactory,
        Placement placement,
        Stopwatch clock,
        ulong listeningSince,
        CancellationToken cancellationToken,
        CrashSafety.CrashJournal? journal = null,
        CrashSafety.ResumeState? resume = null)
    {
        RestoreSource? source = null;
        IUffdHub? hub = null;
        IActorRef? supervisor = null;
        var stopped = false;
        try
        {
            try
            {
                source = openSource();
            }
            catch (Exception ex) when (ex is ImageFormatException or IOException or InvalidDataException or UnauthorizedAccessException)
            {
                listener.Dispose();
                return new EngineResult(1, $"cannot open the images in {settings.ImagesDirectory}: {ex.Message}", statistics, clock.Elapsed);
            }

            var completion = new TaskCompletionSource<RestoreSupervisor.RestoreOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            var supervisorRef = new TaskCompletionSource<IActorRef>(TaskCreationOptions.RunContinuationsAsynchronously);
            Action<Exception> onReaderFailure = ex => _ = supervisorRef.Task.ContinueWith(
                t => t.Result.Tell(new RestoreSupervisor.Fatal($"uffd epoll reader failed: {ex.Message}")), TaskScheduler.Default);
            var backgroundPhases = settings.CreateBackgroundPhases();
            hub = hubFactory is null
                ? new EpollUffdHub(onReaderFailure, settings.UffdScheduling with { Phases = backgroundPhases }, journal, settings.CreateSecondCopier(backgroundPhases),
                    settings.CreatePagesFileStaging())
                : hubFactory(onReaderFailure);
            var pages = source.Pages;
            FaultInjector? faults = null;
            if (settings.FaultInjection is { } plan)
            {
                // Tests only: decorators around the source and the uffds, built once here, so a restore without a plan
                // runs none of it.
                faults = new FaultInjector(plan);
                statistics.FaultInjector = faults;
                pages = new FaultyPageSource(pages, faults);
                hub = new FaultyUffdHub(hub, faults);
            }

            Diagnostics.StartupTrace.Mark(Diagnostics.StartupStep.SourceReady);
            var restore = new RestoreSupervisor.Restore(settings, source.Checkpoint, pages, hub, listener, statistics, completion, source.Remote,
                resume is { ListeningSince: > 0 } ? resume.ListeningSince : listeningSince, journal, resume)
            {
                Faults = faults,
                BackgroundPhases = backgroundPhases,
            };
            supervisor = await placement.Spawn(RestoreSupervisor.Props(restore)).ConfigureAwait(false);
            supervisorRef.SetResult(supervisor);
            var warmUp = placement.WarmUp?.Invoke(hub) ?? Task.CompletedTask;
            await using var registration = cancellationToken.Register(() =>
                completion.TrySetResult(new RestoreSupervisor.RestoreOutcome(130, "cancelled")));
            var outcome = await completion.Task.ConfigureAwait(false);
            Diagnostics.StartupTrace.Mark(Diagnostics.StartupStep.AllComplete);
            statistics.ThreadCpuAtEnd = Diagnostics.ThreadCpu.Snapshot();
            placement.Completed?.Invoke();
            await warmUp.ConfigureAwait(false);
            stopped = await placement.StopAsync(supervisor).ConfigureAwait(false);
            Diagnostics.StartupTrace.Mark(Diagnostics.StartupStep.TornDown);
            return new EngineResult(outcome.ExitCode, outcome.Error, statistics, clock.Elapsed);
        }
        catch (Exception ex) when (ex is TaskCanceledException or LinuxException or AskTimeoutException or InvalidActorNameException)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return new EngineResult(130, "cancelled", statistics, clock.Elapsed);
            }

            return new EngineResult(1, ex.Message, statistics, clock.Elapsed);
        }
        finally
        {
            if (!stopped)
            {
                stopped = await placement.StopAsync(supervisor).ConfigureAwait(false);
            }

            // The task actors copy straight out of the source's buffers and mappings: release them only once every actor
            // of the restore stopped. If they did not stop in time the memory is left mapped (a bounded leak) rather
            // than risking a copy from unmapped memory, which would bring the whole process down.
            if (stopped)
            {
                (hub as IDisposable)?.Dispose();
                source?.Dispose();
            }

            listener.Dispose();
        }
    }
}
