using System.Diagnostics;
using System.Net.Sockets;
using Grpc.Core;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Tests.Service;

/// <summary>The service's life: configuration errors at start, the root-only control socket, drain on SIGTERM.
/// Each test runs its own <c>serve</c> process.</summary>
public sealed class ServiceLifecycleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan VerbLimit = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("settings", "{ \"LazyActors\": { \"Service\": { \"NoSuchKey\": 1 } } }", "NoSuchKey")]
    [InlineData("settings", "{ \"LazyActors\": { \"Service\": { \"MaxJobs\": \"many\" } } }", "LazyActors:Service:MaxJobs")]
    [InlineData("settings", "{ \"LazyActors\": { \"Service\": { \"MaxJobs\": 0 } } }", "LazyActors:Service:MaxJobs")]
    [InlineData("settings", "{ \"LazyActors\": { \"Service\": { \"Http\": \"10.1.2.3:80\" } } }", "loopback")]
    [InlineData("settings", "{ \"LazyActors\": { \"Engine\": { \"copy-slice\": \"12345\" } } }", "lazy-actors.engine.copy-slice")]
    [InlineData("hocon", "lazy-actors.engine.no-such-key = 1", "lazy-actors.engine.no-such-key")]
    [InlineData("hocon", "lazy-actors.engine.scheduling.gate-priority = sometimes", "lazy-actors.engine.scheduling.gate-priority")]
    [InlineData("env", "LazyActors__Service__DrainTimeout=soon", "LazyActors:Service:DrainTimeout")]
    [InlineData("env", "LazyActors__Engine__chunk-max=huge", "lazy-actors.engine.chunk-max")]
    public async Task Serve_refuses_a_bad_key_or_value_at_start_naming_it(string where, string text, string named)
    {
        using var scratch = new ScratchDirectory("cfg");
        var args = new List<string> { "serve", "--control-socket", scratch.Sub("control.sock") };
        var info = new ProcessStartInfo(HostInvocation.DotnetExecutable()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        switch (where)
        {
            case "settings":
                await File.WriteAllTextAsync(scratch.Sub("settings.json"), text);
                args.AddRange(["--settings", scratch.Sub("settings.json")]);
                break;
            case "hocon":
                await File.WriteAllTextAsync(scratch.Sub("engine.hocon"), text);
                args.AddRange(["--config", scratch.Sub("engine.hocon")]);
                break;
            default:
                var equals = text.IndexOf('=', StringComparison.Ordinal);
                info.Environment[text[..equals]] = text[(equals + 1)..];
                break;
        }

        info.ArgumentList.Add(HostInvocation.AssemblyPath);
        args.ForEach(info.ArgumentList.Add);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using (var limit = new CancellationTokenSource(VerbLimit))
        {
            try
            {
                await process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                Assert.Fail($"serve with a bad {where} did not exit:\n{await stdout}{await stderr}");
            }
        }

        var error = await stderr + await stdout;
        output.WriteLine(error);
        Assert.Equal(1, process.ExitCode);
        Assert.Contains(named, error, StringComparison.Ordinal);
        Assert.False(File.Exists(scratch.Sub("control.sock")), "a service that refused to start must not listen");
    }

    [SkippableFact]
    public async Task The_control_socket_refuses_a_client_of_another_uid()
    {
        Skip.IfNot(File.Exists("/usr/bin/setpriv"), "setpriv (util-linux) is needed to run a client as another uid");
        Skip.If(PeerUid() != 0, "the test runs a client as uid 65534, which needs root");
        // A checkout under a private directory (mktemp -d makes 0700) keeps uid 65534 from loading the client at all,
        // and every refusal below would then pass for the wrong reason.
        Skip.IfNot(await NobodyCanReadAsync(HostInvocation.AssemblyPath),
            $"uid 65534 cannot read {HostInvocation.AssemblyPath} (a directory above it is private), so it cannot run the client");
        using var scratch = new ScratchDirectory("sec");
        await using var service = await ServiceProcess.StartAsync(scratch.Path, http: false);
        var mode = File.GetUnixFileMode(service.ControlSocket);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(service.ControlSocket)!));

        // Root is served.
        var root = await VerbProcess.RunAsync(HostInvocation.Prefix(), VerbLimit, "jobs", "list", "--control-socket", service.ControlSocket);
        Assert.True(root.ExitCode == 0, root.Stderr);

        // As uid 65534 the file modes stop the client.
        var nobody = await AsNobodyAsync(service.ControlSocket);
        output.WriteLine(nobody.Stderr);
        Assert.Equal(2, nobody.ExitCode);
        Assert.Contains("permission denied", nobody.Stderr, StringComparison.Ordinal);

        // With the modes loosened by mistake, the service itself refuses the peer (SO_PEERCRED).
        File.SetUnixFileMode(Path.GetDirectoryName(service.ControlSocket)!, (UnixFileMode)0b111_111_111);
        File.SetUnixFileMode(service.ControlSocket, (UnixFileMode)0b110_110_110);
        var refused = await AsNobodyAsync(service.ControlSocket);
        output.WriteLine(refused.Stderr);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("refused this client", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("running as uid 65534", service.Output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Jobs_started_at_once_on_a_fresh_service_all_complete()
    {
        // The first jobs of a service used to race to make the shared job host: two hosts ran two JIT warm-ups under one
        // actor name, and a job failed ("warm-up" is not unique) with every page copied. Seen with 8 jobs started at once.
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var scratch = new ScratchDirectory("par");
        var images = scratch.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(1, 4L << 20, 0x9A7));
        await using var service = await ServiceProcess.StartAsync(scratch.Path, http: false);
        using var client = service.Client();

        var works = Enumerable.Range(0, 8).Select(i => scratch.CreateSub($"w{i}")).ToArray();
        var jobs = await Task.WhenAll(works.Select(w => ServiceRestores.StartAsync(client, images, w)));
        var reports = await Task.WhenAll(works.Select(w => ServiceRestores.RestoreAsync(images, w)));
        foreach (var report in reports)
        {
            ServiceRestores.AssertVerified(report);
        }

        foreach (var job in jobs)
        {
            var (last, events) = await ServiceRestores.WatchAsync(client, job.Id);
            Assert.True(last.State == Proto.JobState.Completed, $"{job.Id}: {last.State}: {string.Join(" | ", events.Select(e => $"{e.Kind}: {e.Message}"))}");
        }
    }

    [SkippableFact]
    public async Task Sigterm_drains_a_restore_in_progress_to_its_end_and_refuses_new_jobs()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var scratch = new ScratchDirectory("drn");
        var images = scratch.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(4, 16L << 20, 0xD7A1));
        var work = scratch.CreateSub("work");
        var idle = scratch.CreateSub("idle");
        await using var service = await ServiceProcess.StartAsync(scratch.Path, http: false);
        using var client = service.Client();

        // One job restoring (background transfer held back for a while, so it is still in progress at SIGTERM), one
        // whose restorer never comes.
        var job = await ServiceRestores.StartAsync(client, images, work, ("background-push-delay", "3s"));
        var waiting = await ServiceRestores.StartAsync(client, images, idle);
        var restore = ServiceRestores.RestoreAsync(images, work, TouchOrder.Rand, verify: true, hold: TimeSpan.FromSeconds(2));
        var seen = await WaitForStateAsync(client, job.Id, s => s is Proto.JobState.Serving);
        Assert.True(seen is Proto.JobState.Serving, $"the restore did not get to 'restore finished': {seen}");

        await service.SignalAsync("TERM");
        var attempt = 0;
        var refused = await WaitForRefusalAsync(client, images, () => scratch.CreateSub($"late{++attempt}"));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("stopping", refused.Status.Detail, StringComparison.Ordinal);

        var report = await restore;
        var exit = await service.StopAsync(TimeSpan.FromSeconds(60));
        output.WriteLine(service.Output);
        ServiceRestores.AssertVerified(report);
        Assert.Equal(0, exit);
        Assert.Contains($"job {job.Id}: every task is complete", service.Output, StringComparison.Ordinal);
        Assert.Contains("drained: every job ended", service.Output, StringComparison.Ordinal);
        Assert.Contains($"job {waiting.Id}: ended with exit code 130", service.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(service.ControlSocket), "the control socket outlived the service");
    }

    [SkippableFact]
    public async Task Under_systemd_serve_notifies_ready_once_its_control_socket_listens_and_stopping_on_sigterm()
    {
        Skip.IfNot(File.Exists("/usr/bin/unshare"), "unshare (util-linux) is needed to run the service as pid 1 of a pid namespace");
        Skip.If(PeerUid() != 0, "a pid namespace needs root");
        using var scratch = new ScratchDirectory("sd");
        var notify = scratch.Sub("notify.sock");
        using var notifications = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notifications.Bind(new UnixDomainSocketEndPoint(notify));
        var control = scratch.Sub("ctl/control.sock");

        // Microsoft.Extensions.Hosting.Systemd recognises a service by its parent (systemd) or, in a container, by being
        // pid 1 with NOTIFY_SOCKET set: the latter is what a test can arrange.
        var info = new ProcessStartInfo("/usr/bin/unshare") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "--pid", "--fork", "--kill-child", "--", HostInvocation.DotnetExecutable(), HostInvocation.AssemblyPath, "serve", "--control-socket", control })
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["NOTIFY_SOCKET"] = notify;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            var ready = await ReceiveAsync(notifications, TimeSpan.FromSeconds(60));
            Assert.Contains("READY=1", ready, StringComparison.Ordinal);
            Assert.True(File.Exists(control), "READY=1 came before the control socket existed");
            using (var client = new Host.Control.ControlClient(control))
            {
                Assert.Empty((await client.Jobs.ListJobsAsync(new Proto.ListJobsRequest())).Jobs);
            }

            var service = int.Parse((await File.ReadAllTextAsync($"/proc/{process.Id}/task/{process.Id}/children")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(0, Kill(service, 15));
            var stopping = await ReceiveAsync(notifications, TimeSpan.FromSeconds(30));
            Assert.Contains("STOPPING=1", stopping, StringComparison.Ordinal);
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(limit.Token);
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            output.WriteLine(await stdout + await stderr);
        }
    }

    /// <summary>
    /// <c>serve</c> and <c>jobs</c> without <c>--control-socket</c> meet at the one default path: run in a private mount
    /// namespace with a fresh tmpfs on /run, so the machine's own /run/lazy-actors is never touched.
    /// </summary>
    [SkippableFact]
    public async Task Serve_and_jobs_meet_at_the_default_control_socket()
    {
        using var scratch = new ScratchDirectory("dflt");
        var dotnet = HostInvocation.DotnetExecutable();
        var host = HostInvocation.AssemblyPath;
        var log = Path.Combine(scratch.Path, "serve.log");
        var socket = Host.Service.ServiceOptions.DefaultControlSocket;
        var script = $$"""
            mount -t tmpfs lazy-actors-test /run || exit 77
            '{{dotnet}}' '{{host}}' serve > '{{log}}' 2>&1 &
            serve=$!
            for i in $(seq 1 600); do [ -S '{{socket}}' ] && break; kill -0 $serve 2>/dev/null || break; sleep 0.1; done
            '{{dotnet}}' '{{host}}' jobs list
            rc=$?
            kill -TERM $serve
            for i in $(seq 1 300); do kill -0 $serve 2>/dev/null || break; sleep 0.1; done
            kill -KILL $serve 2>/dev/null
            wait $serve
            exit $rc
            """;
        var (exit, stdout, stderr) = await VerbProcess.RunAsync(["/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/bash", "-c", script], VerbLimit);
        Skip.If(exit == 77 || stderr.Contains("unshare failed", StringComparison.Ordinal), $"no private mount namespace with a tmpfs on /run here: {stderr}");
        output.WriteLine(stdout);
        output.WriteLine(stderr);
        output.WriteLine(File.Exists(log) ? await File.ReadAllTextAsync(log) : "(no serve log)");
        Assert.Equal(0, exit);
        Assert.Contains($"control API on {socket}", await File.ReadAllTextAsync(log), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_sample_systemd_unit_waits_for_readiness_and_gives_the_drain_its_time()
    {
        var unit = await File.ReadAllLinesAsync(Path.Combine(Path.GetDirectoryName(HostInvocation.AssemblyPath)!, "config", "lazy-actors.service"));
        string Value(string key) => unit.Single(l => l.StartsWith(key + "=", StringComparison.Ordinal))[(key.Length + 1)..];
        Assert.Equal("notify", Value("Type"));
        Assert.EndsWith("LazyActors.Host.dll serve", Value("ExecStart"), StringComparison.Ordinal);
        Assert.Equal("lazy-actors", Value("RuntimeDirectory"));
        Assert.Equal(Path.GetDirectoryName(Host.Service.ServiceOptions.DefaultControlSocket), "/run/" + Value("RuntimeDirectory"));
        Assert.Equal("0700", Value("RuntimeDirectoryMode"));
        Assert.True(TimeSpan.FromSeconds(int.Parse(Value("TimeoutStopSec"), System.Globalization.CultureInfo.InvariantCulture)) > new Host.Service.ServiceOptions().DrainTimeout,
            "systemd would kill the service before its drain timeout");
        // The jobs' descriptors survive a crash in systemd's store (two at least per job: the connection and a uffd), their
        // journals in the state directory the service uses by default.
        Assert.True(int.Parse(Value("FileDescriptorStoreMax"), System.Globalization.CultureInfo.InvariantCulture) >= 2 * new Host.Service.ServiceOptions().MaxJobs,
            "the fd store has no room for every job");
        Assert.Equal(Host.Service.ServiceOptions.DefaultStateDirectory, "/var/lib/" + Value("StateDirectory"));
    }

    private static async Task<string> ReceiveAsync(Socket socket, TimeSpan timeout)
    {
        var buffer = new byte[4096];
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            var received = await socket.ReceiveAsync(buffer, SocketFlags.None, limit.Token);
            return System.Text.Encoding.UTF8.GetString(buffer, 0, received);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no notification on NOTIFY_SOCKET within {timeout.TotalSeconds:0} s");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static async Task<Proto.JobState> WaitForStateAsync(Host.Control.ControlClient client, string id, Func<Proto.JobState, bool> wanted)
    {
        var clock = Stopwatch.StartNew();
        var state = Proto.JobState.Unspecified;
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            state = (await client.Jobs.GetJobAsync(new Proto.JobRequest { Id = id })).State;
            if (wanted(state))
            {
                return state;
            }

            await Task.Delay(20);
        }

        return state;
    }

    /// <summary>Starts (and cancels) jobs until one is refused; each attempt on a new work directory
    /// (<paramref name="newWork"/>): a job accepted just before SIGTERM landed may not have ended from its cancel yet,
    /// and its work directory would be refused as already served (AlreadyExists) instead of the drain's refusal.</summary>
    private static async Task<RpcException> WaitForRefusalAsync(Host.Control.ControlClient client, string images, Func<string> newWork)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var job = await client.Jobs.StartJobAsync(new Proto.StartJobRequest { ImagesDir = images, WorkDir = newWork() });
                await client.Jobs.CancelJobAsync(new Proto.JobRequest { Id = job.Id });
            }
            catch (RpcException ex)
            {
                return ex;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "StartJob was still accepted 10 s after SIGTERM");
            await Task.Delay(50);
        }
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> AsNobodyAsync(string socket) =>
        VerbProcess.RunAsync(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=/tmp", "DOTNET_CLI_HOME=/tmp", HostInvocation.DotnetExecutable(), HostInvocation.AssemblyPath],
            VerbLimit, "jobs", "list", "--control-socket", socket);

    private static async Task<bool> NobodyCanReadAsync(string path)
    {
        var probe = await VerbProcess.RunAsync(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c", "test -r \"$0\""],
            VerbLimit, path);
        return probe.ExitCode == 0;
    }

    private static uint PeerUid() => Host.Service.Grpc.PeerCredentials.EffectiveUid();
}
