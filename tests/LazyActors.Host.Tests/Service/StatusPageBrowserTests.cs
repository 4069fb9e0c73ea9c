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
/// The status page in a real browser: headless Chromium (the Debian package chromium, which .ci/run installs; skipped with the reason where absent) loads it while a
/// restore is in progress; its DOM must show the job and one row per task, and its screenshot is kept as an artifact
/// (<c>artifacts/status-page.png</c> next to the test assembly).
/// </summary>
public sealed class StatusPageBrowserTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Status_page_shows_the_job_and_its_tasks_in_a_browser_during_a_restore()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var browser = FindChromium();
        Skip.If(browser is null, "headless Chromium is not installed (/usr/bin/chromium; .ci/run installs the Debian package chromium where apt-get can)");

        using var scratch = new ScratchDirectory("web");
        var images = scratch.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(3, 8L << 20, 0x57A7));
        var work = scratch.CreateSub("work");
        await using var service = await ServiceProcess.StartAsync(scratch.Path);
        using var client = service.Client();

        // The tasks touch only once the browser has looked (a touch gate) and background transfer waits 10 minutes: the
        // restore stays in progress however long the browser takes (a fixed 15 s hold was too short on a loaded
        // machine, where two Chromium runs took longer); then the tasks' faults serve every page and every byte is verified.
        var job = await ServiceRestores.StartAsync(client, images, work, ("background-push-delay", "600s"));
        var gate = new TouchGate(scratch);
        var restore = ServiceRestores.RestoreAsync(images, work, TouchOrder.Rand, verify: true, timeout: TimeSpan.FromSeconds(180), gate: gate);
        try
        {
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

            // The screenshot itself shows the job as serving: the SERVING badge (#27c behind white letters, about 65 x 17
            // pixels) in the first job card's header, near the top; nothing else there has that colour (the push bars are
            // empty while background transfer waits, the histogram is further down).
            var (width, _, rgb) = Png.DecodeRgb(await File.ReadAllBytesAsync(png));
            var badge = CountColour(rgb, width, rows: 150, (0x22, 0x77, 0xcc));
            Assert.True(badge >= 400, $"the screenshot shows no SERVING badge ({badge} pixels of its colour in the top 150 rows)");
        }
        finally
        {
            // Also when an assertion failed: the tasks go on (and end) instead of waiting for the gate's timeout.
            gate.Open();
        }

        ServiceRestores.AssertVerified(await restore);
        var (last, _) = await ServiceRestores.WatchAsync(client, job.Id);
        Assert.Equal(Proto.JobState.Completed, last.State);
    }

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

    private static int CountColour(byte[] rgb, int width, int rows, (byte R, byte G, byte B) colour)
    {
        var count = 0;
        for (var i = 0; i + 2 < Math.Min(rgb.Length, rows * width * 3); i += 3)
        {
            count += rgb[i] == colour.R && rgb[i + 1] == colour.G && rgb[i + 2] == colour.B ? 1 : 0;
        }

        return count;
    }

    private static string? FindChromium() =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
}
