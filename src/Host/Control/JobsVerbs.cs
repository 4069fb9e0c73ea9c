using System.Globalization;
using Grpc.Core;
using Spectre.Console;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Control;

/// <summary>The <c>jobs</c> client verbs: what they send and how they print (progress bars on a terminal, plain lines otherwise).</summary>
internal static class JobsVerbs
{
    /// <summary>Exit code when the service cannot be reached or refused the request.</summary>
    public const int RequestFailed = 2;

    /// <summary>What <c>jobs start</c> does once the job listens.</summary>
    /// <param name="Wait">Follow the job to its end (exit code as <c>jobs watch</c>).</param>
    /// <param name="StatusFd">Write \0 there once the job listens (readiness, as <c>lazy-pages --status-fd</c>).</param>
    /// <param name="LogFile">Where the followed job's events go (default stdout).</param>
    public sealed record Follow(bool Wait, int? StatusFd, string? LogFile);

    public static async Task<int> StartAsync(string socket, Proto.StartJobRequest request, Follow follow, CancellationToken token)
    {
        using var client = new ControlClient(socket);
        return await CallAsync(client, async () =>
        {
            var job = await client.Jobs.StartJobAsync(request, cancellationToken: token).ConfigureAwait(false);
            await Console.Out.WriteLineAsync(job.Id).ConfigureAwait(false);
            await Console.Out.FlushAsync(token).ConfigureAwait(false);
            if (follow.StatusFd is { } fd)
            {
                Engine.Restorer.ReadinessSignal.WriteStatusByte(fd);
            }

            if (!follow.Wait)
            {
                return 0;
            }

            var output = follow.LogFile is null ? Console.Out : new StreamWriter(follow.LogFile, append: true) { AutoFlush = true };
            try
            {
                using var call = client.Jobs.WatchJob(new Proto.WatchJobRequest { Id = job.Id }, cancellationToken: token);
                return await ReportAsync(await FollowPlainAsync(call.ResponseStream, output, token).ConfigureAwait(false), job.Id).ConfigureAwait(false);
            }
            finally
            {
                if (!ReferenceEquals(output, Console.Out))
                {
                    await output.DisposeAsync().ConfigureAwait(false);
                }
            }
        }).ConfigureAwait(false);
    }

    public static async Task<int> CancelAsync(string socket, string id, CancellationToken token)
    {
        using var client = new ControlClient(socket);
        return await CallAsync(client, async () =>
        {
            var job = await client.Jobs.CancelJobAsync(new Proto.JobRequest { Id = id }, cancellationToken: token).ConfigureAwait(false);
            await Console.Out.WriteLineAsync($"{job.Id}: {Name(job.State)}").ConfigureAwait(false);
            return 0;
        }).ConfigureAwait(false);
    }

    public static async Task<int> ListAsync(string socket, CancellationToken token)
    {
        using var client = new ControlClient(socket);
        return await CallAsync(client, async () =>
        {
            var response = await client.Jobs.ListJobsAsync(new Proto.ListJobsRequest(), cancellationToken: token).ConfigureAwait(false);
            var table = new Table().AddColumns("job", "state", "tasks", "copied", "faults", "elapsed", "work dir", "error");
            foreach (var job in response.Jobs)
            {
                var total = job.Tasks.Sum(t => t.TotalPages);
                var copied = job.Tasks.Sum(t => t.CopiedByFaults + t.CopiedByPush);
                table.AddRow(Markup.Escape(job.Id), Name(job.State), job.Tasks.Count.ToString(CultureInfo.InvariantCulture),
                    $"{copied}/{total}", job.Tasks.Sum(t => t.Faults).ToString(CultureInfo.InvariantCulture),
                    $"{job.ElapsedSeconds:0.0} s", Markup.Escape(job.WorkDir), Markup.Escape(job.Error));
            }

            if (response.Jobs.Count == 0)
            {
                await Console.Out.WriteLineAsync("no jobs").ConfigureAwait(false);
            }
            else if (Console.IsOutputRedirected)
            {
                // For scripts: one job a line, tab-separated, never wrapped to a terminal's width.
                await Console.Out.WriteLineAsync("job\tstate\ttasks\tcopied\tfaults\telapsed\twork dir\terror").ConfigureAwait(false);
                foreach (var job in response.Jobs)
                {
                    await Console.Out.WriteLineAsync(string.Join('\t', job.Id, Name(job.State), job.Tasks.Count.ToString(CultureInfo.InvariantCulture),
                        $"{job.Tasks.Sum(t => t.CopiedByFaults + t.CopiedByPush)}/{job.Tasks.Sum(t => t.TotalPages)}",
                        job.Tasks.Sum(t => t.Faults).ToString(CultureInfo.InvariantCulture),
                        job.ElapsedSeconds.ToString("0.0", CultureInfo.InvariantCulture), job.WorkDir, job.Error)).ConfigureAwait(false);
                }
            }
            else
            {
                AnsiConsole.Write(table);
            }

            return 0;
        }).ConfigureAwait(false);
    }

    /// <summary>Follows a job to its end: 0 when its restore completed, 1 with the reason otherwise.</summary>
    public static async Task<int> WatchAsync(string socket, string id, uint intervalMs, CancellationToken token)
    {
        using var client = new ControlClient(socket);
        return await CallAsync(client, async () =>
        {
            using var call = client.Jobs.WatchJob(new Proto.WatchJobRequest { Id = id, IntervalMs = intervalMs }, cancellationToken: token);
            var last = Console.IsOutputRedirected
                ? await FollowPlainAsync(call.ResponseStream, Console.Out, token).ConfigureAwait(false)
                : await FollowWithBarsAsync(call.ResponseStream, token).ConfigureAwait(false);
            return await ReportAsync(last, id).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    private static async Task<int> ReportAsync(Proto.Job? last, string id)
    {
        if (last is null)
        {
            await Console.Error.WriteLineAsync($"jobs: the service ended the stream of {id} before the job ended").ConfigureAwait(false);
            return 1;
        }

        if (last.State == Proto.JobState.Completed)
        {
            var pages = last.Tasks.Sum(t => t.CopiedByFaults + t.CopiedByPush);
            var c = last.Counters ?? new Proto.JobCounters();
            await Console.Out.WriteLineAsync($"{last.Id}: completed: {last.Tasks.Count} task(s), {pages} pages copied ({c.PagesByFault} by fault, {c.PagesByPush} by push), " +
                $"{c.BytesFromSource / (1024.0 * 1024.0):0.0} MiB from the source, cache {c.CacheHits} hit(s) {c.CacheMisses} miss(es), {last.ElapsedSeconds:0.00} s").ConfigureAwait(false);
            return 0;
        }

        await Console.Error.WriteLineAsync($"{last.Id}: {Name(last.State)} (exit code {last.ExitCode}): {last.Error}").ConfigureAwait(false);
        return 1;
    }

    private static async Task<Proto.Job?> FollowPlainAsync(IAsyncStreamReader<Proto.JobUpdate> updates, TextWriter output, CancellationToken token)
    {
        while (await updates.MoveNext(token).ConfigureAwait(false))
        {
            var update = updates.Current;
            foreach (var e in update.Events)
            {
                await output.WriteLineAsync($"{DateTimeOffset.FromUnixTimeMilliseconds(e.UnixMs):HH:mm:ss.fff} {e.Kind}: {e.Message}").ConfigureAwait(false);
            }

            if (IsFinal(update.Job.State))
            {
                return update.Job;
            }
        }

        return null;
    }

    private static async Task<Proto.Job?> FollowWithBarsAsync(IAsyncStreamReader<Proto.JobUpdate> updates, CancellationToken token)
    {
        Proto.Job? last = null;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var bars = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                while (await updates.MoveNext(token).ConfigureAwait(false))
                {
                    var update = updates.Current;
                    foreach (var e in update.Events)
                    {
                        AnsiConsole.MarkupLine($"[grey]{DateTimeOffset.FromUnixTimeMilliseconds(e.UnixMs):HH:mm:ss.fff}[/] {Markup.Escape(e.Kind)}: {Markup.Escape(e.Message)}");
                    }

                    foreach (var task in update.Job.Tasks)
                    {
                        if (!bars.TryGetValue(task.Label, out var bar))
                        {
                            bars[task.Label] = bar = context.AddTask(Markup.Escape($"task {task.Label}"), maxValue: Math.Max(1, task.TotalPages));
                        }

                        bar.Value = task.CopiedByFaults + task.CopiedByPush;
                        bar.Description = Markup.Escape($"task {task.Label} ({task.Faults} faults, {task.Phase})");
                        if (task.Phase != "serving")
                        {
                            bar.StopTask();
                        }
                    }

                    if (IsFinal(update.Job.State))
                    {
                        last = update.Job;
                        foreach (var bar in bars.Values)
                        {
                            bar.StopTask();
                        }

                        return;
                    }
                }
            }).ConfigureAwait(false);
        return last;
    }

    private static async Task<int> CallAsync(ControlClient client, Func<Task<int>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException ex)
        {
            await Console.Error.WriteLineAsync($"jobs: {client.Describe(ex)}").ConfigureAwait(false);
            return RequestFailed;
        }
    }

    private static bool IsFinal(Proto.JobState state) => state is Proto.JobState.Completed or Proto.JobState.Failed or Proto.JobState.Cancelled;

    private static string Name(Proto.JobState state) => state.ToString().ToLowerInvariant();
}
