using Grpc.Core;
using LazyActors.Host.Control;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using Xunit;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Tests.Service;

/// <summary>Helpers of the service tests: start a job, restore it with the simulator, follow it to its end.</summary>
internal static class ServiceRestores
{
    public static readonly TimeSpan JobLimit = TimeSpan.FromSeconds(90);

    public static async Task<Proto.Job> StartAsync(ControlClient client, string images, string work, params (string Key, string Value)[] engine)
    {
        var request = new Proto.StartJobRequest { ImagesDir = images, WorkDir = work };
        foreach (var (key, value) in engine)
        {
            request.Engine[key] = value;
        }

        var job = await client.Jobs.StartJobAsync(request, deadline: DateTime.UtcNow.AddSeconds(30));
        Assert.True(File.Exists(job.SocketPath), $"{job.Id}: StartJob answered before {job.SocketPath} existed");
        return job;
    }

    /// <summary>Plays <c>criu restore --lazy-pages</c> against the job's socket on real processes; every byte verified.</summary>
    /// <param name="images">The checkpoint the job serves.</param>
    /// <param name="work">The job's work directory (its <c>lazy-pages.socket</c>).</param>
    /// <param name="touch">The order the tasks touch their pages in.</param>
    /// <param name="verify">Whether every byte is compared with the images.</param>
    /// <param name="hold">How long the tasks wait after the restore before they touch.</param>
    /// <param name="timeout">Every wait of the simulator (60 s unless told: a restore that outlives a restart of the service
    /// waits for the successor's start too).</param>
    /// <param name="gate">A touch gate: the tasks touch only once it is open (after <paramref name="hold"/>).</param>
    public static Task<SimReport> RestoreAsync(string images, string work, TouchOrder touch = TouchOrder.Rand, bool verify = true, TimeSpan hold = default, TimeSpan? timeout = null, TouchGate? gate = null) =>
        Task.Run(() => new RestoreSimulator(new RestoreSimOptions
        {
            ImagesDir = images,
            WorkDir = work,
            Touch = touch,
            Verify = verify,
            HoldBeforeTouch = hold,
            Timeout = timeout ?? TimeSpan.FromSeconds(60),
            TouchGate = gate?.Path,
        }).Run());

    /// <summary>Follows the job with WatchJob until its final state; returns the last update and every event seen.</summary>
    public static async Task<(Proto.Job Job, List<Proto.JobEvent> Events)> WatchAsync(ControlClient client, string id)
    {
        var events = new List<Proto.JobEvent>();
        using var limit = new CancellationTokenSource(JobLimit);
        using var call = client.Jobs.WatchJob(new Proto.WatchJobRequest { Id = id, IntervalMs = 100 }, cancellationToken: limit.Token);
        Proto.Job? last = null;
        while (await call.ResponseStream.MoveNext(limit.Token))
        {
            events.AddRange(call.ResponseStream.Current.Events);
            last = call.ResponseStream.Current.Job;
        }

        Assert.NotNull(last);
        return (last!, events);
    }

    public static void AssertVerified(SimReport report)
    {
        Assert.True(report.Ok, $"restore of {report.Images} failed: {report.Error}; " +
            string.Join("; ", report.Tasks.Where(t => !t.Ok).Select(t => $"{t.Pid}: {t.Error} mismatches {t.Mismatches}")));
        Assert.All(report.Tasks, t => Assert.True(t.BytesVerified > 0, $"task {t.Pid} verified nothing"));
    }

    public static async Task<RpcException> RefusedAsync(Func<Task> call)
    {
        var error = await Assert.ThrowsAsync<RpcException>(call);
        return error;
    }
}
