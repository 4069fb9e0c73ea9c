using System.Buffers.Binary;
using System.Diagnostics;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Tests.Service;

/// <summary>
/// The status page in a real browser: headless Chromium (Debian's package, installed here when absent) loads it while a
/// restore is in progress; its DOM must show the job and one row per task, and its screenshot is kept as an artifact
/// (<c>artifacts/status-page.png</c> next to the test assembly).
/// </summary>
public sealed class StatusPageBrowserTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Status_page_shows_the_job_and_its_tasks_in_a_browser_during_a_restore()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var browser = await FindOrInstallChromiumAsync();
        Skip.If(browser is null, $"chromium is not installed and could not be installed with apt-get ({InstallLog})");

        using var scratch = new ScratchDirectory("web");
        var images = scratch.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(3, 8L << 20, 0x57A7));
        var work = scratch.CreateSub("work");
        await using var service = await ServiceProcess.StartAsync(scratch.Path);
        using var client = service.Client();

        // The tasks wait 15 s after "restore finished" and background transfer waits 20 s: the restore stays in
        // progress while the browser looks; then it is served to the end and every byte verified.
        var job = await ServiceRestores.StartAsync(client, images, work, ("background-push-delay", "20s"));
        var restore = ServiceRestores.RestoreAsync(images, work, TouchOrder.Rand, verify: true, hold: TimeSpan.FromSeconds(15));
        var clock = Stopwatch.StartNew();
        Proto.Job now;
        do
        {
            await Task.Delay(50);
            now = await client.Jobs.GetJobAsync(new Proto.JobRequest { Id = job.Id });
        }
        while (now.State != Proto.JobState.Serving && clock.Elapsed < TimeSpan.FromSeconds(60));
        Assert.Equal(Proto.JobState.Serving, now.State);

        var artifacts = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "artifacts")).FullName;
        var png = Path.Combine(artifacts, "status-page.png");
        File.Delete(png);
        var dom = await RunBrowserAsync(browser!, scratch.CreateSub("profile-dom"), "--dump-dom", service.Http.ToString());
        await RunBrowserAsync(browser!, scratch.CreateSub("profile-shot"), $"--screenshot={png}", service.Http.ToString());
        var during = await client.Jobs.GetJobAsync(new Proto.JobRequest { Id = job.Id });
        output.WriteLine($"job {job.Id} was {during.State} after the browser ran; screenshot {png}");

        Assert.Contains($"data-job-id=\"{job.Id}\"", dom.Stdout, StringComparison.Ordinal);
        foreach (var task in now.Tasks)
        {
            Assert.Contains($"data-label=\"{task.Label}\"", dom.Stdout, StringComparison.Ordinal);
        }

        Assert.Contains("SERVING", dom.Stdout, StringComparison.Ordinal);
        Assert.Contains("fault latency", dom.Stdout, StringComparison.Ordinal);
        Assert.Equal(Proto.JobState.Serving, during.State);

        Assert.True(File.Exists(png), $"chromium wrote no screenshot:\n{dom.Stderr}");
        var header = (await File.ReadAllBytesAsync(png)).AsSpan();
        Assert.True(header[..8].SequenceEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a }), "the screenshot is not a PNG");
        Assert.Equal(1200, BinaryPrimitives.ReadInt32BigEndian(header[16..]));
        Assert.True(header.Length > 10_000, $"the screenshot is nearly empty ({header.Length} bytes)");

        ServiceRestores.AssertVerified(await restore);
        var (last, _) = await ServiceRestores.WatchAsync(client, job.Id);
        Assert.Equal(Proto.JobState.Completed, last.State);
    }

    private static string InstallLog { get; set; } = "";

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunBrowserAsync(string browser, string profile, params string[] args)
    {
        string[] flags =
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", $"--user-data-dir={profile}",
            "--window-size=1200,900", "--virtual-time-budget=4000",
        ];
        return await VerbProcess.RunAsync([browser, .. flags], TimeSpan.FromSeconds(90), args);
    }

    private static async Task<string?> FindOrInstallChromiumAsync()
    {
        foreach (var candidate in new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        try
        {
            var install = await VerbProcess.RunAsync(["/bin/sh", "-c"], TimeSpan.FromMinutes(8),
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)");
            InstallLog = install.ExitCode == 0 ? "installed" : $"exit {install.ExitCode}: {install.Stderr.Trim()}";
        }
        catch (Exception ex) when (ex is TimeoutException or System.ComponentModel.Win32Exception)
        {
            InstallLog = ex.Message;
        }

        return File.Exists("/usr/bin/chromium") ? "/usr/bin/chromium" : null;
    }
}
