using System.Diagnostics;
using System.Globalization;
using System.Text;
using Grpc.Core;
using LazyActors.Host.Control;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Tools.Bench;

/// <summary>What <see cref="ServiceLoad"/> measures.</summary>
/// <param name="Jobs">Jobs run through the service.</param>
/// <param name="Clients">Clients at once, each: StartJob, the restore simulator on the job's socket, WatchJob to the end.</param>
/// <param name="CheckpointBytes">Bytes of the small checkpoint (one task).</param>
internal sealed record ServiceLoadOptions(int Jobs, int Clients, long CheckpointBytes);

/// <summary>The figures of one <see cref="ServiceLoad"/> run.</summary>
internal sealed record ServiceLoadReport(
    ServiceLoadOptions Options,
    double IdleRssMiB,
    double AcceptsPerSecond,
    double Seconds,
    double JobsPerSecond,
    double ServiceCpuSecondsPerJob,
    double EightJobsPeakRssMiB,
    double IdleRssAfterMiB,
    IReadOnlyList<string> Failures)
{
    public bool Ok => Failures.Count == 0;

    public string Render()
    {
        var text = new StringBuilder();
        var mib = Options.CheckpointBytes / (1024.0 * 1024.0);
        text.AppendLine(CultureInfo.InvariantCulture, $"service load: {Options.Jobs} jobs of a 1 task x {mib:0.#} MiB checkpoint, {Options.Clients} clients at once (StartJob, restore simulator with every byte verified, WatchJob to Completed)");
        text.AppendLine(CultureInfo.InvariantCulture, $"  accepted (start, cancel) {AcceptsPerSecond,8:0.0} jobs/s (StartJob answered once the socket listens, CancelJob, WatchJob to Cancelled)");
        text.AppendLine(CultureInfo.InvariantCulture, $"  accepted and served      {JobsPerSecond,8:0.0} jobs/s ({Seconds:0.00} s; the simulator's restorer and task processes are part of it)");
        text.AppendLine(CultureInfo.InvariantCulture, $"  service CPU per job      {ServiceCpuSecondsPerJob * 1000,8:0.0} ms");
        text.AppendLine(CultureInfo.InvariantCulture, $"  RssAnon idle (started)   {IdleRssMiB,8:0.0} MiB");
        text.AppendLine(CultureInfo.InvariantCulture, $"  RssAnon peak, 8 jobs     {EightJobsPeakRssMiB,8:0.0} MiB (8 restores served at once)");
        text.AppendLine(CultureInfo.InvariantCulture, $"  RssAnon idle (after)     {IdleRssAfterMiB,8:0.0} MiB");
        foreach (var failure in Failures)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  FAILED: {failure}");
        }

        return text.ToString();
    }
}

/// <summary>
/// Load on a running <c>serve</c>: how many small restore jobs per second it accepts and serves with several clients at
/// once (each job restored by the restore simulator, every byte verified, and followed to its end over the control
/// API), its anonymous RSS idle and at its peak while 8 jobs restore at once. The service's CPU time per job is given
/// too: on a loaded machine it means more than the wall-clock rate.
/// </summary>
internal static class ServiceLoad
{
    private static readonly TimeSpan JobLimit = TimeSpan.FromSeconds(120);

    public static async Task<ServiceLoadReport> RunAsync(ServiceUnderTest service, string scratch, ServiceLoadOptions options, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        var images = Path.Combine(scratch, "images");
        Directory.CreateDirectory(images);
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(1, options.CheckpointBytes, 0x5E41));
        using var client = new ControlClient(service.ControlSocket);

        // Idle: after the first job (JIT warm-up and the job host are made with the first one), before the load.
        await RunJobAsync(client, images, NewWork(scratch), failures, TimeSpan.Zero).ConfigureAwait(false);
        await Task.Delay(500).ConfigureAwait(false);
        var idle = service.RssAnonMiB();
        progress?.Invoke($"idle RssAnon {idle:0.0} MiB; running {options.Jobs} jobs with {options.Clients} clients");

        var accepted = 0;
        var acceptClock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(async _ =>
        {
            while (Interlocked.Increment(ref accepted) <= options.Jobs)
            {
                await AcceptAndCancelAsync(client, images, NewWork(scratch), failures).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);
        var acceptsPerSecond = options.Jobs / acceptClock.Elapsed.TotalSeconds;
        progress?.Invoke($"{acceptsPerSecond:0.0} jobs/s accepted and cancelled; now {options.Jobs} jobs restored");

        var next = 0;
        var cpuBefore = service.CpuSeconds();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= options.Jobs)
            {
                await RunJobAsync(client, images, NewWork(scratch), failures, TimeSpan.Zero).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var cpu = service.CpuSeconds() - cpuBefore;
        progress?.Invoke($"{options.Jobs} jobs in {seconds:0.00} s; 8 jobs at once for the peak RSS");

        using var sampler = new RssSampler(service.Pid, TimeSpan.FromMilliseconds(10));
        // Each restorer waits a moment before it touches, so all 8 are connected and served at the same time.
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => RunJobAsync(client, images, NewWork(scratch), failures, TimeSpan.FromMilliseconds(500)))).ConfigureAwait(false);
        var peak = sampler.PeakAnonMiB;
        await Task.Delay(500).ConfigureAwait(false);
        var after = service.RssAnonMiB();
        return new ServiceLoadReport(options, idle, acceptsPerSecond, seconds, options.Jobs / seconds, cpu / options.Jobs, peak, after, failures);
    }

    private static string NewWork(string scratch)
    {
        var work = Path.Combine(scratch, "w" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(work);
        return work;
    }

    private static async Task RunJobAsync(ControlClient client, string images, string work, List<string> failures, TimeSpan hold)
    {
        try
        {
            var job = await client.Jobs.StartJobAsync(new Proto.StartJobRequest { ImagesDir = images, WorkDir = work }, deadline: DateTime.UtcNow.AddSeconds(30)).ConfigureAwait(false);
            var report = await Task.Run(() => new RestoreSimulator(new RestoreSimOptions
            {
                ImagesDir = images,
                WorkDir = work,
                Touch = TouchOrder.Rand,
                Verify = true,
                HoldBeforeTouch = hold,
                Timeout = TimeSpan.FromSeconds(60),
            }).Run()).ConfigureAwait(false);
            if (!report.Ok)
            {
                Fail(failures, $"{job.Id}: restore failed: {report.Error}");
            }

            var last = await WatchToEndAsync(client, job.Id, 50).ConfigureAwait(false);
            if (last?.State != Proto.JobState.Completed)
            {
                Fail(failures, $"{job.Id}: ended {last?.State.ToString() ?? "unseen"}: {last?.Error}");
            }
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException or IOException)
        {
            Fail(failures, $"{work}: {ex.Message}");
        }
    }

    private static async Task AcceptAndCancelAsync(ControlClient client, string images, string work, List<string> failures)
    {
        try
        {
            var job = await client.Jobs.StartJobAsync(new Proto.StartJobRequest { ImagesDir = images, WorkDir = work }, deadline: DateTime.UtcNow.AddSeconds(30)).ConfigureAwait(false);
            await client.Jobs.CancelJobAsync(new Proto.JobRequest { Id = job.Id }, deadline: DateTime.UtcNow.AddSeconds(30)).ConfigureAwait(false);
            var last = await WatchToEndAsync(client, job.Id, 20).ConfigureAwait(false);
            if (last?.State != Proto.JobState.Cancelled)
            {
                Fail(failures, $"{job.Id}: cancelled, but ended {last?.State.ToString() ?? "unseen"}");
            }
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException or IOException)
        {
            Fail(failures, $"{work}: {ex.Message}");
        }
    }

    /// <summary>Follows job <paramref name="id"/> with WatchJob (updates at most every <paramref name="intervalMs"/>) until
    /// the service ends the stream; the job as last seen, or null if no update came. Bounded by <see cref="JobLimit"/>
    /// (an <see cref="OperationCanceledException"/> or <see cref="RpcException"/> past it).</summary>
    private static async Task<Proto.Job?> WatchToEndAsync(ControlClient client, string id, uint intervalMs)
    {
        using var limit = new CancellationTokenSource(JobLimit);
        using var call = client.Jobs.WatchJob(new Proto.WatchJobRequest { Id = id, IntervalMs = intervalMs }, cancellationToken: limit.Token);
        Proto.Job? last = null;
        while (await call.ResponseStream.MoveNext(limit.Token).ConfigureAwait(false))
        {
            last = call.ResponseStream.Current.Job;
        }

        return last;
    }

    private static void Fail(List<string> failures, string failure)
    {
        lock (failures)
        {
            failures.Add(failure);
        }
    }
}
