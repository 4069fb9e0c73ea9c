namespace LazyActors.Host.Service.Jobs;

/// <summary>Something that happened to a job, in order (<see cref="Job.EventsSince"/>).</summary>
/// <param name="Sequence">Its number within the job, from 1.</param>
/// <param name="At">When.</param>
/// <param name="Kind">listening | restorer-connected | task | restore-finished | task-complete | task-exited | task-failed | completed | failed | cancelled.</param>
/// <param name="Message">What, for people.</param>
public sealed record JobEvent(long Sequence, DateTimeOffset At, string Kind, string Message);
