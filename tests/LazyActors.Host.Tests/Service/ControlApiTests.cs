using System.Net;
using Grpc.Core;
using LazyActors.Testing;
using Xunit;
using Xunit.Abstractions;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Tests.Service;

/// <summary>
/// The hosted daemon end to end: a real <c>serve</c> process, its gRPC control API over its real Unix socket, restores
/// played by the restore simulator on real processes with real userfaultfd, every byte verified.
/// </summary>
public sealed class ControlApiTests(ServiceFixture fixture, ITestOutputHelper output) : IClassFixture<ServiceFixture>
{
    [SkippableFact]
    public async Task Service_serves_two_checkpoints_and_two_restores_of_one_checkpoint_at_once()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var client = fixture.Service.Client();
        var restores = new (string Images, string Work)[]
        {
            (fixture.CheckpointA, fixture.NewWorkDir()),
            (fixture.CheckpointA, fixture.NewWorkDir()),
            (fixture.CheckpointB, fixture.NewWorkDir()),
            (fixture.CheckpointB, fixture.NewWorkDir()),
        };
        var jobs = new List<Proto.Job>();
        foreach (var (images, work) in restores)
        {
            // The background push held back a little, so the tasks' own touches fault (and fault latency is recorded).
            jobs.Add(await ServiceRestores.StartAsync(client, images, work, ("background-push-delay", "2s")));
        }

        Assert.Equal(4, jobs.Select(j => j.Id).Distinct().Count());
        var watches = jobs.Select(j => ServiceRestores.WatchAsync(client, j.Id)).ToList();
        var reports = await Task.WhenAll(restores.Select(r => ServiceRestores.RestoreAsync(r.Images, r.Work)));
        foreach (var report in reports)
        {
            ServiceRestores.AssertVerified(report);
        }

        foreach (var (watch, job) in watches.Zip(jobs))
        {
            var (last, events) = await watch;
            output.WriteLine($"{job.Id}: {string.Join(" | ", events.Select(e => $"{e.Kind}: {e.Message}"))}");
            Assert.Equal(Proto.JobState.Completed, last.State);
            Assert.Equal(0, last.ExitCode);
            Assert.All(last.Tasks, t => Assert.Equal(t.TotalPages, t.CopiedByFaults + t.CopiedByPush));
            Assert.Equal(["listening", "restorer-connected", "task"], events.Select(e => e.Kind).Distinct().Take(3));
            Assert.Equal("completed", events[^1].Kind);
            Assert.True(last.Tasks.Sum(t => t.Faults) > 0, $"{job.Id}: the tasks' touches never faulted");
            Assert.True(last.FaultLatency.Count > 0, $"{job.Id}: no fault latency recorded");
        }

        var list = await client.Jobs.ListJobsAsync(new Proto.ListJobsRequest());
        Assert.All(jobs, j => Assert.Contains(list.Jobs, l => l.Id == j.Id && l.State == Proto.JobState.Completed));
    }

    [Fact]
    public async Task Unknown_job_is_not_found_by_name()
    {
        using var client = fixture.Service.Client();
        foreach (var call in new Func<Task>[]
        {
            async () => await client.Jobs.GetJobAsync(new Proto.JobRequest { Id = "jnosuchjob00" }),
            async () => await client.Jobs.CancelJobAsync(new Proto.JobRequest { Id = "jnosuchjob00" }),
            async () =>
            {
                using var watch = client.Jobs.WatchJob(new Proto.WatchJobRequest { Id = "jnosuchjob00" });
                await watch.ResponseStream.MoveNext(CancellationToken.None);
            },
        })
        {
            var error = await ServiceRestores.RefusedAsync(call);
            Assert.Equal(StatusCode.NotFound, error.StatusCode);
            Assert.Contains("jnosuchjob00", error.Status.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Bad_start_requests_are_refused_with_the_reason()
    {
        using var client = fixture.Service.Client();
        var missing = Path.Combine(fixture.NewWorkDir(), "no-such-images");
        var cases = new (Proto.StartJobRequest Request, StatusCode Code, string Names)[]
        {
            (new() { ImagesDir = "" }, StatusCode.InvalidArgument, "images_dir is required"),
            (new() { ImagesDir = missing }, StatusCode.InvalidArgument, missing),
            (new() { ImagesDir = "relative/images" }, StatusCode.InvalidArgument, "absolute"),
            (new() { ImagesDir = fixture.CheckpointA, WorkDir = missing }, StatusCode.InvalidArgument, missing),
            (new() { ImagesDir = fixture.NewWorkDir() }, StatusCode.InvalidArgument, "inventory.img"),
            (Engine(new() { ImagesDir = fixture.CheckpointA, WorkDir = fixture.NewWorkDir() }, "no-such-key", "1"), StatusCode.InvalidArgument, "engine.no-such-key"),
            (Engine(new() { ImagesDir = fixture.CheckpointA, WorkDir = fixture.NewWorkDir() }, "copy-slice", "1000"), StatusCode.InvalidArgument, "copy-slice"),
            (new() { ImagesDir = fixture.CheckpointA, WorkDir = fixture.NewWorkDir(), PageServer = new() { Address = "127.0.0.1", Port = 0 } }, StatusCode.InvalidArgument, "port"),
            (new() { ImagesDir = fixture.CheckpointA, WorkDir = fixture.NewWorkDir(), PageServer = new() { Address = "127.0.0.1", Port = 27, Tls = true, TlsCaFile = "/nonexistent/ca.pem" } }, StatusCode.InvalidArgument, "/nonexistent/ca.pem"),
        };
        foreach (var (request, code, names) in cases)
        {
            var error = await ServiceRestores.RefusedAsync(async () => await client.Jobs.StartJobAsync(request));
            output.WriteLine($"{error.StatusCode}: {error.Status.Detail}");
            Assert.Equal(code, error.StatusCode);
            Assert.Contains(names, error.Status.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_work_dir_already_served_is_refused_naming_the_job_and_freed_once_it_ends()
    {
        using var client = fixture.Service.Client();
        var work = fixture.NewWorkDir();
        var first = await ServiceRestores.StartAsync(client, fixture.CheckpointA, work);
        var error = await ServiceRestores.RefusedAsync(async () => await ServiceRestores.StartAsync(client, fixture.CheckpointB, work));
        Assert.Equal(StatusCode.AlreadyExists, error.StatusCode);
        Assert.Contains(first.Id, error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(work, error.Status.Detail, StringComparison.Ordinal);

        await client.Jobs.CancelJobAsync(new Proto.JobRequest { Id = first.Id });
        var (last, events) = await ServiceRestores.WatchAsync(client, first.Id);
        Assert.Equal(Proto.JobState.Cancelled, last.State);
        Assert.Contains("cancelled", last.Error, StringComparison.Ordinal);
        Assert.Contains(events, e => e.Kind == "cancelled");
        Assert.False(File.Exists(first.SocketPath), "a cancelled job must close its socket");

        var again = await ServiceRestores.StartAsync(client, fixture.CheckpointB, work);
        await client.Jobs.CancelJobAsync(new Proto.JobRequest { Id = again.Id });
    }

    [Fact]
    public async Task A_malformed_message_gets_an_error_and_the_service_goes_on()
    {
        using var client = fixture.Service.Client();
        var raw = new Marshaller<byte[]>(b => b, b => b);
        var method = new Method<byte[], byte[]>(MethodType.Unary, "lazyactors.control.v1.Jobs", "StartJob", raw, raw);
        // Field 1 (images_dir, length-delimited) claiming 100 bytes that are not there: not a StartJobRequest.
        var garbage = new byte[] { 0x0a, 0x64, 0x2f, 0x74 };
        var error = await ServiceRestores.RefusedAsync(async () => await client.CallInvoker.AsyncUnaryCall(method, null, new CallOptions(), garbage));
        output.WriteLine($"{error.StatusCode}: {error.Status.Detail}");
        Assert.NotEqual(StatusCode.OK, error.StatusCode);
        Assert.NotEqual(StatusCode.Unavailable, error.StatusCode);

        var unknownMethod = new Method<byte[], byte[]>(MethodType.Unary, "lazyactors.control.v1.Jobs", "NoSuchCall", raw, raw);
        var unknown = await ServiceRestores.RefusedAsync(async () => await client.CallInvoker.AsyncUnaryCall(unknownMethod, null, new CallOptions(), []));
        Assert.Equal(StatusCode.Unimplemented, unknown.StatusCode);

        // Still serving.
        Assert.NotNull(await client.Jobs.ListJobsAsync(new Proto.ListJobsRequest()));
    }

    [SkippableFact]
    public async Task Metrics_health_and_the_status_data_show_the_service()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var client = fixture.Service.Client();
        var work = fixture.NewWorkDir();
        var job = await ServiceRestores.StartAsync(client, fixture.CheckpointB, work);
        ServiceRestores.AssertVerified(await ServiceRestores.RestoreAsync(fixture.CheckpointB, work));
        var (last, _) = await ServiceRestores.WatchAsync(client, job.Id);
        Assert.Equal(Proto.JobState.Completed, last.State);

        using var http = new HttpClient { BaseAddress = fixture.Service.Http, Timeout = TimeSpan.FromSeconds(20) };
        var health = await http.GetAsync(new Uri("healthz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("Healthy", await health.Content.ReadAsStringAsync());

        var metrics = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
        foreach (var name in new[] { "lazy_actors_faults_total", "lazy_actors_fault_latency_seconds_bucket", "lazy_actors_pages_copied_total", "lazy_actors_source_bytes_total", "lazy_actors_jobs_started_total", "lazy_actors_jobs_ended_total" })
        {
            Assert.Contains(name, metrics, StringComparison.Ordinal);
        }

        var status = await http.GetStringAsync(new Uri("api/jobs", UriKind.Relative));
        Assert.Contains(job.Id, status, StringComparison.Ordinal);
        Assert.Contains("copiedByPush", status, StringComparison.Ordinal);
        var page = await http.GetStringAsync(new Uri("/", UriKind.Relative));
        Assert.Contains("/api/jobs", page, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Jobs_verbs_start_watch_list_and_cancel()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var socket = fixture.Service.ControlSocket;
        var work = fixture.NewWorkDir();
        var start = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(60), "jobs", "start", "-D", fixture.CheckpointA, "-W", work, "--control-socket", socket);
        Assert.True(start.ExitCode == 0, start.Stderr);
        var id = start.Stdout.Trim();
        Assert.Matches("^j[0-9a-f]{11}$", id);
        Assert.True(File.Exists(Path.Combine(work, "lazy-pages.socket")), "jobs start returned before the job listened");

        var watch = VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(90), "jobs", "watch", id, "--control-socket", socket);
        ServiceRestores.AssertVerified(await ServiceRestores.RestoreAsync(fixture.CheckpointA, work));
        var watched = await watch;
        output.WriteLine(watched.Stdout);
        Assert.True(watched.ExitCode == 0, watched.Stderr);
        Assert.Contains($"{id}: completed", watched.Stdout, StringComparison.Ordinal);
        Assert.Contains("restore-finished", watched.Stdout, StringComparison.Ordinal);

        var list = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(60), "jobs", "list", "--control-socket", socket);
        Assert.Equal(0, list.ExitCode);
        Assert.Contains(id, list.Stdout, StringComparison.Ordinal);

        var other = fixture.NewWorkDir();
        var second = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(60), "jobs", "start", "-D", fixture.CheckpointB, "-W", other, "--control-socket", socket);
        var secondId = second.Stdout.Trim();
        var cancel = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(60), "jobs", "cancel", secondId, "--control-socket", socket);
        Assert.Equal(0, cancel.ExitCode);
        var failed = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(60), "jobs", "watch", secondId, "--control-socket", socket);
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("cancelled", failed.Stderr, StringComparison.Ordinal);

        var unknown = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(60), "jobs", "watch", "jnosuchjob00", "--control-socket", socket);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("no job jnosuchjob00", unknown.Stderr, StringComparison.Ordinal);

        var nowhere = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(60), "jobs", "list", "--control-socket", Path.Combine(other, "none.sock"));
        Assert.Equal(2, nowhere.ExitCode);
        Assert.Contains("none.sock", nowhere.Stderr, StringComparison.Ordinal);
    }

    private static Proto.StartJobRequest Engine(Proto.StartJobRequest request, string key, string value)
    {
        request.Engine[key] = value;
        return request;
    }
}
