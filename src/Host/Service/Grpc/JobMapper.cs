using LazyActors.Engine.Actors;
using LazyActors.Engine.Metrics;
using LazyActors.Host.Service.Jobs;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Service.Grpc;

/// <summary>Jobs as the control API shows them.</summary>
internal static class JobMapper
{
    public static Proto.Job ToProto(Job job)
    {
        var result = job.Result;
        var statistics = job.Statistics;
        var message = new Proto.Job
        {
            Id = job.Id,
            State = ToProto(job.State),
            ImagesDir = job.Spec.ImagesDirectory,
            WorkDir = job.WorkDirectory,
            SocketPath = job.SocketPath,
            Checkpoint = job.Checkpoint,
            ExitCode = result?.ExitCode ?? 0,
            Error = result?.Error ?? "",
            CreatedUnixMs = job.Created.ToUnixTimeMilliseconds(),
            ElapsedSeconds = job.Elapsed.TotalSeconds,
            FaultLatency = ToProto(statistics.FaultLatency),
            PageServer = job.Spec.PageServer?.ToString() ?? "",
        };
        message.Tasks.AddRange(statistics.Tasks.Select(ToProto));
        return message;
    }

    public static Proto.TaskProgress ToProto(TaskProgress task) => new()
    {
        Pid = task.Pid,
        Label = task.Label,
        ForkChild = task.IsForkChild,
        Phase = task.Phase.ToString().ToLowerInvariant(),
        Reason = task.Reason ?? "",
        TotalPages = task.TotalPages,
        CopiedByFaults = task.CopiedByFaults,
        CopiedByPush = task.CopiedByPusher,
        ZeroPages = task.ZeroPages,
        Faults = task.Faults,
        DroppedPages = task.DroppedPages,
    };

    public static Proto.FaultLatency ToProto(FaultLatencyHistogram histogram)
    {
        var message = new Proto.FaultLatency { Count = histogram.Count, MeanUs = histogram.Mean.TotalMicroseconds };
        message.BoundsUs.AddRange(FaultLatencyHistogram.BoundsMicroseconds);
        message.Counts.AddRange(histogram.Snapshot());
        return message;
    }

    public static Proto.JobEvent ToProto(JobEvent e) => new() { UnixMs = e.At.ToUnixTimeMilliseconds(), Kind = e.Kind, Message = e.Message };

    public static Proto.JobState ToProto(JobState state) => state switch
    {
        JobState.Listening => Proto.JobState.Listening,
        JobState.Restoring => Proto.JobState.Restoring,
        JobState.Serving => Proto.JobState.Serving,
        JobState.Completed => Proto.JobState.Completed,
        JobState.Failed => Proto.JobState.Failed,
        _ => Proto.JobState.Cancelled,
    };

    public static JobSpec FromProto(Proto.StartJobRequest request)
    {
        PageServerSpec? remote = null;
        if (request.PageServer is { } server)
        {
            if (string.IsNullOrWhiteSpace(server.Address) || server.Port is 0 or > 65535)
            {
                throw new JobRequestException(JobRequestError.Invalid, "page_server needs an address and a port from 1 to 65535");
            }

            remote = new PageServerSpec(server.Address, (int)server.Port, server.Tls, NullIfEmpty(server.TlsCaFile), NullIfEmpty(server.TlsCertFile), NullIfEmpty(server.TlsKeyFile));
        }

        return new JobSpec(request.ImagesDir, NullIfEmpty(request.WorkDir), remote, request.NoBackground,
            request.Engine.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal));
    }

    private static string? NullIfEmpty(string value) => string.IsNullOrEmpty(value) ? null : value;
}
