using System.Diagnostics;
using LazyActors.Engine.Restorer;
using LazyActors.Testing;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.Commands;

/// <summary>The <c>lazy-pages</c> verb as users run it: its own process, against the restore simulator.</summary>
public sealed class LazyPagesCommandTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Lazy_pages_verb_daemonizes_writes_its_pidfile_and_exits_after_the_restore()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 2L << 20, 0x1234));

        var clock = Stopwatch.StartNew();
        var (launcherExit, _, launcherErr) = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(30),
            "lazy-pages", "-D", images, "-W", work.Path, "-d", "--pidfile", "lp.pid", "-o", "lp.log", "-v", "4");
        Assert.True(launcherExit == 0, $"the launcher exited with {launcherExit}: {launcherErr}");

        output.WriteLine($"listening after {clock.ElapsedMilliseconds} ms");
        var pid = int.Parse((await File.ReadAllTextAsync(Path.Combine(work.Path, "lp.pid"))).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        using var daemon = Process.GetProcessById(pid);
        try
        {
            Assert.True(File.Exists(Path.Combine(work.Path, LazyPagesHandshake.SocketName)));
            if (File.Exists("/usr/bin/setsid") || File.Exists("/bin/setsid"))
            {
                Assert.NotEqual(SessionOf("self"), SessionOf(pid.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            var report = new RestoreSimulator(new RestoreSimOptions { ImagesDir = images, WorkDir = work.Path, Timeout = TimeSpan.FromSeconds(60), Progress = output.WriteLine }).Run();
            Assert.True(report.Ok, report.Error);
            Assert.True(daemon.WaitForExit(30_000), "the daemon did not exit once every task was complete");
            var log = await File.ReadAllTextAsync(Path.Combine(work.Path, "lp.log"));
            output.WriteLine(log);
            Assert.Contains("every task is complete", log);
            Assert.Contains("UFFD transferred pages", log);
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

    /// <summary>Session id (field 6 of /proc/PID/stat; the command name may contain spaces, so split after its ')').</summary>
    private static string SessionOf(string pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[3];
    }
}
