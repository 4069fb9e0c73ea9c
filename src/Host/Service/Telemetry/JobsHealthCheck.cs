using Akka.Actor;
using LazyActors.Host.Service.Jobs;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LazyActors.Host.Service.Telemetry;

/// <summary><c>/healthz</c>: healthy while the actor system runs and jobs are taken; degraded while draining;
/// unhealthy once the actor system is gone.</summary>
internal sealed class JobsHealthCheck(JobManager jobs, ActorSystem system) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object> { ["running_jobs"] = jobs.RunningCount };
        if (system.WhenTerminated.IsCompleted)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("the actor system terminated", data: data));
        }

        return Task.FromResult(jobs.Draining
            ? HealthCheckResult.Degraded("draining: no new jobs", data: data)
            : HealthCheckResult.Healthy($"{jobs.RunningCount} job(s) running", data));
    }
}
