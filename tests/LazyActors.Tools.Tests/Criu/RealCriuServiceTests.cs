using LazyActors.Host;
using LazyActors.Testing;
using LazyActors.Tools.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// Real <c>criu restore --lazy-pages</c> (CRIU 4.2 from ../shared/tools/criu-4.2) served by the hosted daemon: one
/// <c>serve</c> process, and as CRIU's lazy-pages daemon the client <c>jobs start --wait --status-fd N</c>, which starts a
/// job whose socket CRIU connects to and exits 0 only when the service reports the job's restore complete. Every byte of
/// every restored task verified. Skipped with the reason where CRIU is absent or cannot run.
/// </summary>
public sealed class RealCriuServiceTests(ITestOutputHelper output) : IDisposable
{
    private readonly ScratchDirectory _dir = new("criusvc");

    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public async Task The_service_serves_real_criu_restores_of_two_checkpoints_every_byte_verified()
    {
        var criu = await RealCriuRequirement.RequireAsync();
        var harness = new CriuHarness(criu, RealCriuRequirement.TestOptions(output));
        var tree = await harness.DumpAsync(new TreeWorkload(3, 16, WorkloadTouch.Rand, TreeShape.Binary), _dir.CreateSub("tree"));
        var single = await harness.DumpAsync(new TreeWorkload(1, 32, WorkloadTouch.Seq), _dir.CreateSub("single"));
        await using var service = await ServiceProcess.StartAsync(_dir.CreateSub("service"), http: false);
        var daemon = new CriuDaemonSpec
        {
            Label = "service",
            Template = [.. HostInvocation.Prefix(), "jobs", "start", "--control-socket", service.ControlSocket, "--wait"],
        };

        try
        {
            foreach (var checkpoint in new[] { tree, single, tree })
            {
                var result = await harness.RestoreAsync(checkpoint, daemon);
                output.WriteLine(result.Summary());
                Assert.True(result.Ok, string.Join("\n", result.Failures));
                Assert.Equal(checkpoint.Workload.TaskCount, result.Tasks.Count);
                Assert.Equal(checkpoint.Workload.TotalBytes, result.BytesVerified);
                Assert.All(result.Tasks, t => Assert.Equal(checkpoint.Workload.BytesPerTask, t.BytesVerified));
                Assert.Equal(0, result.RootExitCode);
                Assert.Equal(0, result.DaemonExitCode);
            }

            using var client = service.Client();
            var jobs = await client.Jobs.ListJobsAsync(new Host.Control.V1.ListJobsRequest());
            Assert.Equal(3, jobs.Jobs.Count(j => j.State == Host.Control.V1.JobState.Completed));
        }
        finally
        {
            output.WriteLine(service.Output);
        }
    }
}
