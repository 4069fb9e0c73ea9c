using System.CommandLine;
using LazyActors.Tools.Bench;

namespace LazyActors.Tools.Commands;

/// <summary>
/// <c>service-bench [--jobs N] [--clients C] [--mib M] [--host-dir DIR] [--temp-dir DIR]</c>: starts one <c>serve</c>
/// (the published host in DIR, or the build next to these tools) and measures the jobs per second it accepts and serves
/// with C clients at once on small checkpoints (the restore simulator verifies every byte), its CPU time per job, and its
/// anonymous RSS idle and with 8 jobs restoring at once. Exit 0 when every job completed.
/// </summary>
internal static class ServiceBenchCommand
{
    public static Command Create()
    {
        var jobs = new Option<int>("--jobs") { Description = "Jobs to run through the service, in each phase (default 100).", DefaultValueFactory = _ => 100 };
        var clients = new Option<int>("--clients") { Description = "Clients at once, each starting a job, restoring it and following it to its end (default 4).", DefaultValueFactory = _ => 4 };
        var mib = new Option<int>("--mib") { Description = "Size of the small checkpoint (one task), MiB (default 1).", DefaultValueFactory = _ => 1 };
        var hostDir = new Option<string?>("--host-dir") { Description = "Run the host published in this directory (dotnet publish src/Host -c Release -o DIR); default the build next to these tools." };
        var tempRoot = new Option<string?>("--temp-dir") { Description = "Where to create the temporary directory (default: the system temp dir)." };
        var command = new Command("service-bench", "Measure the hosted daemon (`serve`): jobs/s with N clients, CPU per job, RSS idle and with 8 jobs.")
        {
            jobs, clients, mib, hostDir, tempRoot,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new ServiceLoadOptions(parse.GetValue(jobs), parse.GetValue(clients), (long)parse.GetValue(mib) << 20);
            if (options.Jobs < 1 || options.Clients < 1 || options.CheckpointBytes < 1)
            {
                await Console.Error.WriteLineAsync("service-bench: --jobs, --clients and --mib must be at least 1");
                return 2;
            }

            var prefix = parse.GetValue(hostDir) is { } dir ? PublishedHost.PrefixFor(dir) : Host.HostInvocation.Prefix();
            var scratch = Path.Combine(parse.GetValue(tempRoot) ?? Path.GetTempPath(), $"lazyactors-svcbench-{Environment.ProcessId}");
            Directory.CreateDirectory(scratch);
            try
            {
                ServiceUnderTest service;
                try
                {
                    service = await ServiceUnderTest.StartAsync(prefix, Path.Combine(scratch, "svc"), TimeSpan.FromSeconds(60)).ConfigureAwait(false);
                }
                catch (InvalidOperationException ex)
                {
                    await Console.Error.WriteLineAsync($"service-bench: {ex.Message}");
                    return 2;
                }

                await using (service.ConfigureAwait(false))
                {
                    await Console.Error.WriteLineAsync($"service-bench: serve pid {service.Pid} ({string.Join(' ', prefix)})");
                    var report = await ServiceLoad.RunAsync(service, scratch, options, line => Console.Error.WriteLine($"service-bench: {line}")).ConfigureAwait(false);
                    Console.Write(report.Render());
                    var exit = await service.StopAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
                    if (exit != 0)
                    {
                        await Console.Error.WriteLineAsync($"service-bench: serve exited with {exit} on SIGTERM (log {service.LogPath})");
                        return 1;
                    }

                    return report.Ok ? 0 : 1;
                }
            }
            finally
            {
                try
                {
                    Directory.Delete(scratch, recursive: true);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    await Console.Error.WriteLineAsync($"service-bench: could not delete {scratch}: {ex.Message}");
                }
            }
        });
        return command;
    }
}
