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

    /// <summary>
    /// Issue 12: a log file in a missing directory was dropped silently, and a checkpoint that cannot be served (here
    /// pstree.img a link to /dev/zero, which once grew to 4.2 GB in memory) failed only after the socket was bound. Both
    /// now end in one line naming the path, exit 1, with no socket left behind.
    /// </summary>
    [Fact]
    public async Task A_log_in_a_missing_directory_and_unservable_images_fail_in_one_line_before_anything_is_bound()
    {
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(1, 256L << 10, 0x1234));
        var socket = Path.Combine(work.Path, LazyPagesHandshake.SocketName);

        var (exit, _, stderr) = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(60),
            "lazy-pages", "-D", images, "-W", work.Path, "-o", "no/such/dir/lp.log");
        Assert.Equal(1, exit);
        Assert.Equal($"lazy-pages: log file {Path.Combine(work.Path, "no/such/dir/lp.log")}: its directory {Path.Combine(work.Path, "no/such/dir")} does not exist", stderr.Trim());
        Assert.False(File.Exists(socket));

        File.Delete(Path.Combine(images, "pstree.img"));
        File.CreateSymbolicLink(Path.Combine(images, "pstree.img"), "/dev/zero");
        (exit, _, stderr) = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(60),
            "lazy-pages", "-D", images, "-W", work.Path);
        output.WriteLine(stderr);
        Assert.Equal(1, exit);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("lazy-pages:", StringComparison.Ordinal));
        Assert.Contains($"{Path.Combine(images, "pstree.img")}: is a symbolic link", line);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(File.Exists(socket));
    }

    /// <summary>
    /// The remote transports' options without <c>--page-server</c> used to be ignored (the restore quietly read local
    /// images): now refused in one line (exit 1; <c>jobs</c>: 2, its code for a refused request), before anything is
    /// bound or any service is asked.
    /// </summary>
    [Theory]
    [InlineData("lazy-pages", "--transport akka", "lazy-pages: --transport akka needs --page-server (the pages and the checkpoint's metadata come from a page source)")]
    [InlineData("lazy-pages", "--checkpoint ck1", "lazy-pages: --checkpoint needs --page-server --transport akka")]
    [InlineData("jobs start", "--transport akka", "jobs start: --transport akka needs --page-server")]
    [InlineData("jobs start", "--checkpoint ck1", "jobs start: --checkpoint needs --page-server")]
    public async Task Remote_transport_options_without_a_page_server_are_refused_not_ignored(string verb, string options, string expected)
    {
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(1, 256L << 10, 0x1235));
        var args = verb.Split(' ').Concat(["-D", images, "-W", work.Path]).Concat(options.Split(' '))
            .Concat(verb == "jobs start" ? ["--control-socket", Path.Combine(work.Path, "no-service.sock")] : []).ToArray();

        var (exit, _, stderr) = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(60), args);

        output.WriteLine(stderr);
        Assert.Equal(verb == "jobs start" ? 2 : 1, exit); // jobs: a request refused before it is sent, as a bad --page-server
        // The daemon's log (stderr without -o) may carry the same error as a log line; the verb's own line is one.
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l == expected);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(work.Path, LazyPagesHandshake.SocketName)));
    }

    /// <summary>
    /// Issue 12: SIGINT to a daemon still serving a task that died mid-restore (liveness probe off, so it waits as the
    /// probe found it) used to log "The CancellationTokenSource has been disposed". It must end at once with exit 130
    /// and the one line "cancelled".
    /// </summary>
    [SkippableFact]
    public async Task Sigint_while_serving_a_dead_task_ends_with_exit_130_and_one_line()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(2, 1L << 20, 0x1234));
        var config = Path.Combine(work.Path, "probe-off.hocon");
        await File.WriteAllTextAsync(config, "lazy-actors.engine.liveness-probe-interval = off\n");
        var prefix = HostInvocation.Prefix();
        var info = new ProcessStartInfo(prefix[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in prefix.Skip(1).Concat(["lazy-pages", "-D", images, "-W", work.Path, "--no-background", "--config", config]))
        {
            info.ArgumentList.Add(arg);
        }

        using var daemon = Process.Start(info)!;
        var stderr = daemon.StandardError.ReadToEndAsync();
        try
        {
            var sigint = ((ulong.Parse((await File.ReadAllLinesAsync($"/proc/{daemon.Id}/status")).First(l => l.StartsWith("SigIgn:", StringComparison.Ordinal))[7..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture) >> 1) & 1) == 0;
            Skip.IfNot(sigint, "SIGINT is ignored in this test run (started in the background of a shell without job control)");
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!File.Exists(Path.Combine(work.Path, LazyPagesHandshake.SocketName)) && DateTime.UtcNow < deadline && !daemon.HasExited)
            {
                await Task.Delay(50);
            }

            var report = new RestoreSimulator(new RestoreSimOptions { ImagesDir = images, WorkDir = work.Path, Touch = TouchOrder.Seq, Scenario = SimScenario.Kill, Timeout = TimeSpan.FromSeconds(60), Progress = output.WriteLine }).Run();
            Assert.True(report.Ok, report.Error);
            Assert.False(daemon.WaitForExit(1000), "the daemon ended although a task died unnoticed (nothing to prove)");

            using (var kill = Process.Start("kill", ["-INT", daemon.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            Assert.True(daemon.WaitForExit(30_000), "the daemon did not end within 30 s of SIGINT");
            var text = await stderr;
            output.WriteLine(text);
            Assert.Equal(130, daemon.ExitCode);
            Assert.Equal("lazy-pages: cancelled", text.Trim());
        }
        finally
        {
            if (!daemon.HasExited)
            {
                daemon.Kill();
                await daemon.WaitForExitAsync();
            }
        }
    }

    /// <summary>
    /// Issue 12: the socket's mode followed the umask (0777 under umask 000) and a second lazy-pages in the same work dir
    /// silently took the first one's socket over. The socket is 0600 whatever the umask; the second daemon is refused
    /// with one line naming the socket, and the first keeps listening.
    /// </summary>
    [Fact]
    public async Task Under_umask_000_the_socket_is_0600_and_a_second_daemon_in_the_same_work_dir_is_refused()
    {
        using var work = new ScratchDirectory();
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(1, 256L << 10, 0x1234));
        var config = Path.Combine(work.Path, "wait.hocon");
        await File.WriteAllTextAsync(config, "lazy-actors.engine.accept-timeout = 60s\n");
        var socket = Path.Combine(work.Path, LazyPagesHandshake.SocketName);
        var info = new ProcessStartInfo("/bin/sh") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { "-c", "umask 000; exec \"$@\"", "sh" }.Concat(HostInvocation.Prefix()).Concat(["lazy-pages", "-D", images, "-W", work.Path, "--config", config]))
        {
            info.ArgumentList.Add(arg);
        }

        using var first = Process.Start(info)!;
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!File.Exists(socket) && DateTime.UtcNow < deadline && !first.HasExited)
            {
                await Task.Delay(50);
            }

            Assert.True(File.Exists(socket), "the first daemon never listened");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));

            var (exit, _, stderr) = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(60), "lazy-pages", "-D", images, "-W", work.Path, "--config", config);
            output.WriteLine(stderr);
            Assert.Equal(1, exit);
            var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("lazy-pages:", StringComparison.Ordinal));
            Assert.Contains($"{socket}: another process is listening on this socket", line);
            Assert.False(first.HasExited, "the first daemon ended");
            Assert.True(File.Exists(socket), "the first daemon's socket was removed");
        }
        finally
        {
            if (!first.HasExited)
            {
                first.Kill();
                await first.WaitForExitAsync();
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
