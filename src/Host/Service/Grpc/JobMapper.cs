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
        var counters = job.Counters;
        message.Counters = new Proto.JobCounters
        {
            BytesFromSource = counters.BytesFromSource,
            CacheHits = counters.CacheHits,
            CacheMisses = counters.CacheMisses,
            PagesByFault = counters.PagesByFault,
            PagesByPush = counters.PagesByPush,
        };
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
            var akkaAddress = server.Address.StartsWith("akka.tcp://", StringComparison.Ordinal) || server.Address.StartsWith("akka://", StringComparison.Ordinal);
            var akka = server.Transport switch
            {
                "" or "criu" => akkaAddress,
                "akka" => true,
                _ => throw new JobRequestException(JobRequestError.Invalid, $"page_server.transport must be criu or akka, got '{server.Transport}'"),
            };
            if (akkaAddress && server.Transport == "criu")
            {
                throw new JobRequestException(JobRequestError.Invalid, $"page_server.address {server.Address} is an Akka address: transport criu takes a host and a port");
            }

            if (string.IsNullOrWhiteSpace(server.Address) || (!akkaAddress && server.Port is 0 or > 65535))
            {
                throw new JobRequestException(JobRequestError.Invalid, "page_server needs an address and a port from 1 to 65535");
            }

            if (akka && server.Tls)
            {
                throw new JobRequestException(JobRequestError.Invalid, "page_server.tls is for the criu transport; the akka transport has none");
            }

            remote = new PageServerSpec(server.Address, (int)server.Port, server.Tls, NullIfEmpty(server.TlsCaFile), NullIfEmpty(server.TlsCertFile), NullIfEmpty(server.TlsKeyFile),
                akka, NullIfEmpty(server.Checkpoint));
        }

        return new JobSpec(request.ImagesDir, NullIfEmpty(request.WorkDir), remote, request.NoBackground,
            request.Engine.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal));
    }

    private static string? NullIfEmpty(string value) => string.IsNullOrEmpty(value) ? null : value;
}
