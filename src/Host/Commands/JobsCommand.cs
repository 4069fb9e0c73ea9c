using System.CommandLine;
using System.Runtime.CompilerServices;
using LazyActors.Host.Control;
using LazyActors.Host.Service;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>jobs start|watch|list|cancel</c>: the client of the hosted daemon's control API (<c>serve</c>), over its Unix
/// socket. <c>start</c> prints the job id once the job's socket listens; <c>watch</c> follows a job and exits 0 when its
/// restore completed, 1 with the reason otherwise; 2 when the service cannot be reached or refuses the request.
/// </summary>
internal static class JobsCommand
{
    public static Command Create()
    {
        var socket = new Option<string>("--control-socket")
        {
            Description = "The service's control socket.",
            DefaultValueFactory = _ => ServiceOptions.DefaultControlSocket,
            Recursive = true,
        };
        var command = new Command("jobs", "Control the hosted daemon (`serve`): start, watch, list and cancel restore jobs.") { socket };
        command.Subcommands.Add(Start(socket));
        command.Subcommands.Add(Watch(socket));
        command.Subcommands.Add(List(socket));
        command.Subcommands.Add(Cancel(socket));
        return command;
    }

    private static Command Start(Option<string> socket)
    {
        var images = new Option<string>("--images-dir", "-D") { Description = "Checkpoint images to serve.", Required = true };
        var workDir = new Option<string?>("--work-dir", "-W") { Description = "Directory of lazy-pages.socket (default: the images dir)." };
        var noBackground = new Option<bool>("--no-background") { Description = "Serve faults only: no background transfer." };
        var pageServer = new Option<string?>("--page-server") { Description = "HOST:PORT of a page server holding the lazy pages (with --transport akka also a whole akka.tcp://lazy-source@HOST:PORT address)." };
        var tls = new Option<bool>("--tls") { Description = "With --page-server: TLS (as criu --tls)." };
        var transport = new Option<string>("--transport") { Description = "With --page-server: criu (CRIU's page-server protocol, default) or akka (our Akka.Remote transport against `page-server --transport akka`: the checkpoint's metadata comes over the wire too).", DefaultValueFactory = _ => "criu" };
        transport.AcceptOnlyFromAmong("criu", "akka");
        var checkpointName = new Option<string?>("--checkpoint") { Description = "With --transport akka: the name of the checkpoint to restore (default: the one the source serves)." };
        var engine = new Option<string[]>("--engine") { Description = "KEY=VALUE overrides of lazy-actors.engine for this job (repeatable).", AllowMultipleArgumentsPerToken = false };
        var wait = new Option<bool>("--wait") { Description = "Then follow the job to its end, as `jobs watch` (exit 0 when its restore completed)." };
        var statusFd = new Option<int?>("--status-fd") { Description = "Write one \\0 byte to this descriptor once the job listens, then close it (as lazy-pages)." };
        var log = new Option<string?>("--log-file", "-o") { Description = "With --wait: write the job's events here (relative to the work dir) instead of stdout." };
        var command = new Command("start", "Start a restore job; prints its id once its socket listens.") { images, workDir, noBackground, pageServer, tls, transport, checkpointName, engine, wait, statusFd, log };
        command.SetAction(async (parse, token) =>
        {
            var request = new Proto.StartJobRequest
            {
                ImagesDir = Path.GetFullPath(parse.GetValue(images)!),
                WorkDir = parse.GetValue(workDir) is { } w ? Path.GetFullPath(w) : "",
                NoBackground = parse.GetValue(noBackground),
            };
            var akka = parse.GetValue(transport) == "akka";
            if (parse.GetValue(pageServer) is null && (akka || parse.GetValue(checkpointName) is not null))
            {
                // Refused rather than ignored: a job meant to be served from a source must not quietly read local images.
                await Console.Error.WriteLineAsync($"jobs start: {(akka ? "--transport akka" : "--checkpoint")} needs --page-server").ConfigureAwait(false);
                return JobsVerbs.RequestFailed;
            }

            if (parse.GetValue(pageServer) is { } akkaAddress && (akkaAddress.StartsWith("akka.tcp://", StringComparison.Ordinal) || akkaAddress.StartsWith("akka://", StringComparison.Ordinal)))
            {
                // A whole Akka address carries its port.
                request.PageServer = new Proto.PageServerSource { Address = akkaAddress, Transport = "akka", Checkpoint = parse.GetValue(checkpointName) ?? "" };
            }
            else if (parse.GetValue(pageServer) is { } server)
            {
                var colon = server.LastIndexOf(':');
                if (colon <= 0 || !uint.TryParse(server[(colon + 1)..], out var port))
                {
                    await Console.Error.WriteLineAsync($"jobs start: --page-server must be HOST:PORT, got '{server}'").ConfigureAwait(false);
                    return JobsVerbs.RequestFailed;
                }

                request.PageServer = new Proto.PageServerSource
                {
                    Address = server[..colon],
                    Port = port,
                    Tls = parse.GetValue(tls),
                    Transport = akka ? "akka" : "criu",
                    Checkpoint = parse.GetValue(checkpointName) ?? "",
                };
            }

            foreach (var pair in parse.GetValue(engine) ?? [])
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0)
                {
                    await Console.Error.WriteLineAsync($"jobs start: --engine must be KEY=VALUE, got '{pair}'").ConfigureAwait(false);
                    return JobsVerbs.RequestFailed;
                }

                request.Engine[pair[..equals]] = pair[(equals + 1)..];
            }

            var work = request.WorkDir.Length > 0 ? request.WorkDir : request.ImagesDir;
            var follow = new JobsVerbs.Follow(parse.GetValue(wait), parse.GetValue(statusFd), parse.GetValue(log) is { } l ? Path.Combine(work, l) : null);
            return await StartAsync(parse.GetValue(socket)!, request, follow, token).ConfigureAwait(false);
        });
        return command;
    }

    private static Command Watch(Option<string> socket)
    {
        var id = new Argument<string>("id") { Description = "The job." };
        var interval = new Option<uint>("--interval-ms") { Description = "Least time between progress updates.", DefaultValueFactory = _ => 250 };
        var command = new Command("watch", "Follow a job to its end: exit 0 when its restore completed, 1 with the reason otherwise.") { id, interval };
        command.SetAction((parse, token) => WatchAsync(parse.GetValue(socket)!, parse.GetValue(id)!, parse.GetValue(interval), token));
        return command;
    }

    private static Command List(Option<string> socket)
    {
        var command = new Command("list", "The jobs the service knows, with their progress.");
        command.SetAction((parse, token) => ListAsync(parse.GetValue(socket)!, token));
        return command;
    }

    private static Command Cancel(Option<string> socket)
    {
        var id = new Argument<string>("id") { Description = "The job." };
        var command = new Command("cancel", "Stop serving a job.") { id };
        command.SetAction((parse, token) => CancelAsync(parse.GetValue(socket)!, parse.GetValue(id)!, token));
        return command;
    }

    // The gRPC client is only loaded when a jobs verb runs.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Task<int> StartAsync(string socket, Proto.StartJobRequest request, JobsVerbs.Follow follow, CancellationToken token) =>
        JobsVerbs.StartAsync(socket, request, follow, token);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Task<int> WatchAsync(string socket, string id, uint interval, CancellationToken token) => JobsVerbs.WatchAsync(socket, id, interval, token);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Task<int> ListAsync(string socket, CancellationToken token) => JobsVerbs.ListAsync(socket, token);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Task<int> CancelAsync(string socket, string id, CancellationToken token) => JobsVerbs.CancelAsync(socket, id, token);
}
