using System.Globalization;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Tests.Service;

/// <summary>
/// A job whose lazy pages come from a page server (our <c>page-server</c> verb in its own process, on loopback), as
/// <c>lazy-pages --page-server</c> does: the restore simulator restores it through the service, every byte verified.
/// </summary>
public sealed class ServiceRemoteTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [SkippableFact]
    public async Task A_job_restores_from_a_page_server_every_byte_verified()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var scratch = new ScratchDirectory("svcr");
        var images = scratch.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 8L << 20, 0x2E40));
        var source = scratch.CreateSub("source");
        var port = BackgroundVerb.FreePort();
        using var server = BackgroundVerb.Start(HostInvocation.Prefix(),
            ["page-server", "-D", images, "-W", source, "--address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--lazy-pages", "-v", "3", "-o", "ps.log"]);
        Assert.True(server.WaitForLog(Path.Combine(source, "ps.log"), "Using ", Bound), "page-server did not start");
        await using var service = await ServiceProcess.StartAsync(scratch.Path, http: false);
        using var client = service.Client();
        try
        {
            var work = scratch.CreateSub("work");
            var job = await client.Jobs.StartJobAsync(new Proto.StartJobRequest
            {
                ImagesDir = images,
                WorkDir = work,
                PageServer = new Proto.PageServerSource { Address = "127.0.0.1", Port = (uint)port },
            }, deadline: DateTime.UtcNow.AddSeconds(30));
            Assert.Contains($"127.0.0.1:{port}", job.PageServer, StringComparison.Ordinal);

            ServiceRestores.AssertVerified(await ServiceRestores.RestoreAsync(images, work, TouchOrder.Rand));
            var (last, _) = await ServiceRestores.WatchAsync(client, job.Id);
            Assert.Equal(Proto.JobState.Completed, last.State);
            Assert.All(last.Tasks, t => Assert.Equal(t.TotalPages, t.CopiedByFaults + t.CopiedByPush));
        }
        finally
        {
            output.WriteLine(service.Output);
        }
    }
}
