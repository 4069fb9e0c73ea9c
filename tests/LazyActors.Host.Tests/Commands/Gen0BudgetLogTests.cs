using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.Commands;

/// <summary>
/// def90: the daemon's last line gives the gen0 budget it ran with beside its collections, and the budget set through
/// <c>DOTNET_GCgen0size</c> (hex) reaches the daemon: the way to give the <c>dotnet LazyActors.Host.dll</c> form the
/// budget that <c>-p:LazyActorsGcGen0Size</c> embeds in the native one (CoreCLR reads no runtimeconfig.json key for
/// it; docs/benchmarks.md, def90).
/// </summary>
public sealed partial class Gen0BudgetLogTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task The_last_line_gives_the_gen0_budget_and_DOTNET_GCgen0size_raises_it()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        var defaultBudget = Budget(await RestoreAsync(null));
        Skip.If(defaultBudget >= 128.0, $"the runtime's own budget here, {defaultBudget} MiB, is already 128 MiB or more (a processor reporting a very large cache)");
        var raised = await RestoreAsync("8000000"); // 128 MiB, hex as the runtime reads it

        Assert.True(Budget(raised) >= 128.0, $"DOTNET_GCgen0size=8000000 (128 MiB) did not reach the daemon: {Budget(raised)} MiB");
        // A restore of 2 x 4 MiB allocates far less than 128 MiB: with the budget it must not collect at all.
        Assert.Contains("GCs 0/0/0 (gen0/1/2)", raised);
    }

    private static double Budget(string log)
    {
        var match = BudgetLine().Match(log);
        Assert.True(match.Success, "the daemon's last line has no gen0 budget");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"GCs \d+/\d+/\d+ \(gen0/1/2\), GC pauses [0-9.]+ ms in all, [0-9.]+ MiB allocated, gen0 budget up to ([0-9.]+) MiB")]
    private static partial Regex BudgetLine();

    /// <summary>
    /// Daemonizes <c>lazy-pages -v 3</c> over a 2 x 4 MiB synthetic checkpoint (with <paramref name="gen0Size"/> as
    /// <c>DOTNET_GCgen0size</c> if given), restores it with the simulator, checks every byte and returns the log.
    /// </summary>
    private async Task<string> RestoreAsync(string? gen0Size)
    {
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 4L << 20, 0x90));
        var prefix = gen0Size is null ? HostInvocation.Prefix() : ["/usr/bin/env", $"DOTNET_GCgen0size={gen0Size}", .. HostInvocation.Prefix()];
        var (exit, _, stderr) = await VerbProcess.RunAsync(prefix, TimeSpan.FromSeconds(60),
            "lazy-pages", "-D", images, "-W", work.Path, "-d", "--pidfile", "lp.pid", "-o", "lp.log", "-v", "3", "--no-guardian");
        Assert.True(exit == 0, $"the launcher exited with {exit}: {stderr}");
        var pid = int.Parse((await File.ReadAllTextAsync(Path.Combine(work.Path, "lp.pid"))).Trim(), CultureInfo.InvariantCulture);
        using var daemon = Process.GetProcessById(pid);
        try
        {
            var report = new RestoreSimulator(new RestoreSimOptions { ImagesDir = images, WorkDir = work.Path, Timeout = TimeSpan.FromSeconds(60), Progress = output.WriteLine }).Run();
            Assert.True(report.Ok, report.Error);
            Assert.All(report.Tasks, t => Assert.True(t.Ok && t.BytesVerified > 0, $"task {t.Pid}: {t.Error ?? t.FirstMismatch}"));
            Assert.True(daemon.WaitForExit(30_000), "the daemon did not exit once every task was complete");
            var log = await File.ReadAllTextAsync(Path.Combine(work.Path, "lp.log"));
            output.WriteLine(log);
            return log;
        }
        finally
        {
            if (!daemon.HasExited)
            {
                daemon.Kill();
                daemon.WaitForExit(5000);
            }
        }
    }
}
