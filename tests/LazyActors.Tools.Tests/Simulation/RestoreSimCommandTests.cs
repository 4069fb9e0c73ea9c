using System.Text.Json;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using LazyActors.Tools.Tests.Support;
using Xunit;

namespace LazyActors.Tools.Tests.Simulation;

/// <summary>The <c>restore-sim</c> verb as users run it: a separate process printing one JSON object.</summary>
public sealed class RestoreSimCommandTests
{
    [SkippableFact]
    public async Task Restore_sim_json_reports_ok_and_every_task()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 2L << 20, 0x1234));
        using var handler = new MinimalLazyPagesHandler(images, work.Path, TimeSpan.FromSeconds(30));

        var (exitCode, stdout, stderr) = await VerbProcess.RunAsync(ToolsInvocation.Prefix(), TimeSpan.FromSeconds(90), "restore-sim", "-D", images, "-W", work.Path, "--touch", "rand", "--threads", "2", "--json", "--timeout", "30");

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}\n{stdout}");
        using var json = JsonDocument.Parse(stdout);
        Assert.True(json.RootElement.GetProperty("ok").GetBoolean());
        var tasks = json.RootElement.GetProperty("tasks").EnumerateArray().ToList();
        Assert.Equal(2, tasks.Count);
        foreach (var task in tasks)
        {
            foreach (var field in new[] { "pid", "pages", "touch_ms", "p50_us", "p99_us", "max_us", "bytes_verified", "mismatches" })
            {
                Assert.True(task.TryGetProperty(field, out _), $"task lacks {field}: {task}");
            }

            Assert.Equal(0, task.GetProperty("mismatches").GetInt64());
            Assert.True(task.GetProperty("bytes_verified").GetInt64() > 0);
        }
    }
}
