using Grpc.Core;
using LazyActors.Host.Service.Jobs;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Service.Grpc;

/// <summary>The control API (<c>protos/control/jobs.proto</c>) over the <see cref="JobManager"/>. Refusals carry a
/// status that says what is wrong (invalid argument, not found, already exists, resource exhausted, unavailable,
/// unimplemented) and a message naming the job, directory or key.</summary>
internal sealed class JobsGrpcService(JobManager jobs, ServiceOptions options) : Proto.Jobs.JobsBase
{
    /// <inheritdoc />
    public override async Task<Proto.Job> StartJob(Proto.StartJobRequest request, ServerCallContext context)
    {
        var spec = Guard(() => JobMapper.FromProto(request));
        try
        {
            return JobMapper.ToProto(await jobs.StartJobAsync(spec).ConfigureAwait(false));
        }
        catch (JobRequestException ex)
        {
            throw ToRpc(ex);
        }
    }

    /// <inheritdoc />
    public override Task<Proto.ListJobsResponse> ListJobs(Proto.ListJobsRequest request, ServerCallContext context)
    {
        var response = new Proto.ListJobsResponse();
        response.Jobs.AddRange(jobs.List().Select(JobMapper.ToProto));
        return Task.FromResult(response);
    }

    /// <inheritdoc />
    public override Task<Proto.Job> GetJob(Proto.JobRequest request, ServerCallContext context) =>
        Task.FromResult(Guard(() => JobMapper.ToProto(jobs.Get(request.Id))));

    /// <inheritdoc />
    public override Task<Proto.Job> CancelJob(Proto.JobRequest request, ServerCallContext context) =>
        Task.FromResult(Guard(() => JobMapper.ToProto(jobs.Cancel(request.Id))));

    /// <inheritdoc />
    public override async Task WatchJob(Proto.WatchJobRequest request, IServerStreamWriter<Proto.JobUpdate> responseStream, ServerCallContext context)
    {
        var job = Guard(() => jobs.Get(request.Id));
        var interval = request.IntervalMs > 0 ? TimeSpan.FromMilliseconds(Math.Max(10, request.IntervalMs)) : options.WatchInterval;
        long seen = 0;
        var token = context.CancellationToken;
        while (!token.IsCancellationRequested)
        {
            var finished = job.IsFinished;
            var update = new Proto.JobUpdate { Job = JobMapper.ToProto(job) };
            var events = job.EventsSince(seen);
            update.Events.AddRange(events.Select(JobMapper.ToProto));
            if (events.Count > 0)
            {
                seen = events[^1].Sequence;
            }

            await responseStream.WriteAsync(update, token).ConfigureAwait(false);
            if (finished)
            {
                return;
            }

            // Wakes at once when the job ends, so the last update goes out without waiting for the interval.
            try
            {
                await job.Ended.WaitAsync(interval, token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }
    }

    private static T Guard<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (JobRequestException ex)
        {
            throw ToRpc(ex);
        }
    }

    private static RpcException ToRpc(JobRequestException ex)
    {
        var code = ex.Kind switch
        {
            JobRequestError.NotFound => StatusCode.NotFound,
            JobRequestError.AlreadyServed => StatusCode.AlreadyExists,
            JobRequestError.TooMany => StatusCode.ResourceExhausted,
            JobRequestError.Draining => StatusCode.Unavailable,
            _ => StatusCode.InvalidArgument,
        };
        return new RpcException(new Status(code, ex.Message));
    }
}
