using System.Globalization;
using System.Text.RegularExpressions;
using LazyActors.Testing;
using LazyActors.Tools.Bench;
using LazyActors.Tools.Simulation;
using LazyActors.Tools.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.Commands;

/// <summary>
/// The Akka transport's cluster mode as users run it, every node in its own process on loopback: a source
/// (<c>page-server --transport akka --cluster</c>, founding the cluster) and destinations (<c>lazy-pages --page-server
/// --transport akka --cluster --checkpoint NAME --seed-node ...</c>, images directories that hold nothing), the restore
/// simulator as <c>criu restore --lazy-pages</c> on the real images. Fan-out: two destinations restore one checkpoint at
/// once, every byte verified, and the source sends at most 1.3 x the checkpoint's lazy size in all. Node leave: a peer
/// destination killed mid-restore (the other falls back to the source), a source killed while a second source holds the
/// same checkpoint (the destination switches). Every process is killed by its pid at the end.
/// </summary>
public sealed partial class AkkaClusterCommandTests(ITestOutputHelper output)
{
    private const int SigKill = 9;
    private const int SigTerm = 15;
    private const string Name = "svc";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    [SkippableFact]
    public async Task Two_destinations_restore_one_checkpoint_at_once_every_byte_right_and_the_source_sends_it_about_once()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("akc");
        var images = Images(work, 3, 16);
        var config = RemoteTestConfig.Write(work, pushDelay: "0s", giveUpAfter: "30s", timeouts: "2s");
        using var source = StartSource(images, work, "ps.log", seed: null);
        using var a = StartDestination(work, "a", source.Port, config);
        using var b = StartDestination(work, "b", source.Port, config);
        WaitForEachOther(work, ["a", "b"]);

        var restoreA = Task.Run(() => Simulate(images, work, "a", TimeSpan.Zero));
        var restoreB = Task.Run(() => Simulate(images, work, "b", TimeSpan.Zero));
        var reports = await Task.WhenAll(restoreA, restoreB).WaitAsync(Bound); // TimeoutException: a simulation did not end

        foreach (var (report, which) in reports.Zip(["a", "b"]))
        {
            SimulatorTestSupport.WriteTasks(output, report);
            SimulatorTestSupport.AssertEveryPageVerified(report, which);
        }

        foreach (var (daemon, which) in new[] { (a, "a"), (b, "b") })
        {
            var (exit, _, stderr) = daemon.WaitForExit(Bound);
            var log = WorkLog.Read(work, $"{which}/lp.log");
            output.WriteLine(WorkLog.Tail(log));
            Assert.True(exit == 0, $"lazy-pages {which} exited {exit}: {stderr} {WorkLog.Tail(log)}");
            Assert.Contains("every task is complete", log, StringComparison.Ordinal);
            Assert.Matches($@"fan-out of checkpoint '{Name}': \d+ byte\(s\) from the source", log);
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(work.Path, which, "nothing-here")));
        }

        var (lazyBytes, perDestination) = StopSource(source, work, "ps.log");
        long sent = perDestination.Values.Sum();
        output.WriteLine($"lazy size {lazyBytes} bytes; source sent {sent} ({(double)sent / lazyBytes:0.000} x): {string.Join(", ", perDestination.Select(d => $"{d.Key} {d.Value}"))}");
        Assert.InRange(perDestination.Count, 1, 2);
        Assert.True(sent <= lazyBytes * 13 / 10, $"the source sent {sent} bytes for a lazy size of {lazyBytes} ({(double)sent / lazyBytes:0.000} x, at most 1.3 x allowed)");
        long fromPeers = FromPeers(WorkLog.Read(work, "a/lp.log")) + FromPeers(WorkLog.Read(work, "b/lp.log"));
        Assert.True(fromPeers > 0, "neither destination received a page from the other");
    }

    [SkippableFact]
    public async Task A_peer_destination_killed_mid_restore_leaves_the_other_to_the_source_and_its_restore_completes_with_every_byte()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("akl");
        var images = Images(work, 4, 24);
        var config = RemoteTestConfig.Write(work, pushDelay: "0s", giveUpAfter: "40s", timeouts: "2s");
        // a's background transfer waits, so it asks b for b's home chunks after b is dead (undelayed, on a loaded machine
        // it could be over before the kill, and the peer never given up).
        var lateConfig = RemoteTestConfig.Write(work, pushDelay: "8s", giveUpAfter: "40s", timeouts: "2s", fileName: "late.hocon");
        using var source = StartSource(images, work, "ps.log", seed: null);
        using var a = StartDestination(work, "a", source.Port, lateConfig);
        using var b = StartDestination(work, "b", source.Port, config);
        WaitForEachOther(work, ["a", "b"]);

        // a's tasks wait before touching, so its background transfer (half of it asked of b) is under way when b dies.
        var restoreA = Task.Run(() => Simulate(images, work, "a", TimeSpan.FromSeconds(3)));
        var restoreB = Task.Run(() => Simulate(images, work, "b", TimeSpan.FromSeconds(3)));
        Assert.True(a.WaitForLog(Path.Combine(work.Path, "a", "lp.log"), "restore finished", Bound), WorkLog.Tail(WorkLog.Read(work, "a/lp.log")));
        Assert.True(b.WaitForLog(Path.Combine(work.Path, "b", "lp.log"), "restore finished", Bound), WorkLog.Tail(WorkLog.Read(work, "b/lp.log")));
        Thread.Sleep(200);
        b.Signal(SigKill);
        b.WaitForExit(Bound);
        b.Dispose();

        var report = await restoreA.WaitAsync(Bound);
        SimulatorTestSupport.WriteTasks(output, report);
        SimulatorTestSupport.AssertEveryPageVerified(report);
        var (exit, _, stderr) = a.WaitForExit(Bound);
        var log = WorkLog.Read(work, "a/lp.log");
        output.WriteLine(WorkLog.Tail(log));
        Assert.True(exit == 0, $"lazy-pages a exited {exit}: {stderr} {WorkLog.Tail(log)}");
        // Given up while restoring or while serving it after the restore (the summary line may come first then).
        Assert.Matches(@"peer akka\.tcp://lazy-cluster@127\.0\.0\.1:\d+ given up", log);
        // Its daemon was killed; its guardian's successor joins the cluster again and finishes b's restore.
        var reportB = await restoreB.WaitAsync(Bound);
        SimulatorTestSupport.WriteTasks(output, reportB);
        output.WriteLine(WorkLog.Tail(WorkLog.Read(work, "b/lp.log")));
        output.WriteLine(WorkLog.Read(work, "b/lp.log.guardian"));
        SimulatorTestSupport.AssertEveryPageVerified(reportB);
        StopSource(source, work, "ps.log");
    }

    [SkippableFact]
    public async Task A_source_killed_mid_restore_is_replaced_by_a_second_source_of_the_same_checkpoint_and_every_byte_is_right()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("aks");
        // The background transfer waits and the tasks touch only once the source is dead (a touch gate): every page comes
        // after the kill, by faults the daemon must send to the second source (a kill timed 200 ms after "restore
        // finished" came after the last page of 4 x 24 MiB on a faster machine, a CI-like run of 2026-12-01).
        var images = Images(work, 4, 24);
        var config = RemoteTestConfig.Write(work, pushDelay: "10s", giveUpAfter: "40s", timeouts: "2s");
        using var first = StartSource(images, work, "ps1.log", seed: null);
        using var second = StartSource(images, work, "ps2.log", seed: first.Port);
        using var daemon = StartDestination(work, "a", first.Port, config);
        var lp = Path.Combine(work.Path, "a", "lp.log");
        WaitForLines(work, "a/lp.log", $@"node akka\.tcp://lazy-cluster@\S+ registered as source of checkpoint '{Name}'", 2);

        var gate = new TouchGate(work);
        var restore = Task.Run(() => Simulate(images, work, "a", TimeSpan.Zero, gate));
        Assert.True(daemon.WaitForLog(lp, "restore finished", Bound), WorkLog.Tail(WorkLog.Read(work, "a/lp.log")));
        // The source the daemon asks first (the registry's first in address order) is the one killed.
        var used = FirstSourceRegex().Match(WorkLog.Read(work, "a/lp.log"));
        Assert.True(used.Success, WorkLog.Tail(WorkLog.Read(work, "a/lp.log")));
        int usedPort = int.Parse(used.Groups[1].Value, CultureInfo.InvariantCulture);
        var (killed, kept) = usedPort == first.Port ? (first, second) : (second, first);
        killed.Process.Signal(SigKill);
        killed.Process.WaitForExit(Bound);
        killed.Dispose();
        gate.Open();

        var report = await restore.WaitAsync(Bound);
        SimulatorTestSupport.WriteTasks(output, report);
        SimulatorTestSupport.AssertEveryPageVerified(report);
        var (exit, _, stderr) = daemon.WaitForExit(Bound);
        var log = WorkLog.Read(work, "a/lp.log");
        output.WriteLine(WorkLog.Tail(log));
        Assert.True(exit == 0, $"lazy-pages exited {exit}: {stderr} {WorkLog.Tail(log)}");
        Assert.Contains($"switching to the source akka.tcp://lazy-cluster@127.0.0.1:{kept.Port.ToString(CultureInfo.InvariantCulture)}/user/page-source", log, StringComparison.Ordinal);
        Assert.Matches(@"[1-9]\d* source switch\(es\)", log);
        var (_, perDestination) = StopSource(kept, work, kept == first ? "ps1.log" : "ps2.log");
        Assert.Single(perDestination);
    }

    [SkippableFact]
    public void A_destination_asking_for_a_checkpoint_no_node_serves_fails_naming_it()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var work = new ScratchDirectory("akx");
        var images = Images(work, 1, 1);
        using var source = StartSource(images, work, "ps.log", seed: null);
        var config = RemoteTestConfig.Write(work, pushDelay: "0s", giveUpAfter: "5s", timeouts: "2s");
        var dir = work.CreateSub("a");
        using var daemon = BackgroundVerb.Start(HostInvocation.Prefix(),
            ["lazy-pages", "-D", Directory.CreateDirectory(Path.Combine(dir, "nothing-here")).FullName, "-W", dir, "--page-server", "--transport", "akka", "--cluster",
                "--checkpoint", "no-such", "--seed-node", $"127.0.0.1:{source.Port.ToString(CultureInfo.InvariantCulture)}", "--config", config]);

        var (exit, _, stderr) = daemon.WaitForExit(Bound);

        Assert.Equal(1, exit);
        Assert.Contains("cluster checkpoint 'no-such'", stderr, StringComparison.Ordinal);
        Assert.Contains("no node of the cluster serves it", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dir, "lazy-pages.socket")));
        StopSource(source, work, "ps.log");
    }

    [GeneratedRegex(@"first source akka\.tcp://lazy-cluster@127\.0\.0\.1:(\d+)/user/page-source")]
    private static partial Regex FirstSourceRegex();

    [GeneratedRegex(@"page-server: sent (\d+) byte\(s\) to destination (\S+) \([0-9.]+ x the lazy size of (\d+) bytes\)")]
    private static partial Regex SentRegex();

    [GeneratedRegex(@"byte\(s\) from the source \([0-9.]+ x the lazy size, \d+ bytes\), (\d+) from peers")]
    private static partial Regex FromPeersRegex();

    private static long FromPeers(string log) => FromPeersRegex().Match(log) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;

    private static string Images(ScratchDirectory work, int tasks, int mib)
    {
        var images = work.CreateSub("images");
        SyntheticCheckpoint.Write(images, new SyntheticCheckpointOptions(tasks, (long)mib << 20, 0xC1A5));
        return images;
    }

    /// <summary>Waits until each daemon's registry has every other daemon as a destination of the checkpoint.</summary>
    private static void WaitForEachOther(ScratchDirectory work, string[] daemons)
    {
        foreach (var which in daemons)
        {
            WaitForLines(work, $"{which}/lp.log", $@"node akka\.tcp://lazy-cluster@\S+ registered as destination of checkpoint '{Name}'", daemons.Length - 1);
        }
    }

    /// <summary>Waits (bounded) until <paramref name="log"/> has <paramref name="count"/> lines matching <paramref name="pattern"/>.</summary>
    private static void WaitForLines(ScratchDirectory work, string log, string pattern, int count)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (Regex.Matches(WorkLog.Read(work, log), pattern).Count < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{log} never had {count} line(s) like {pattern}: {WorkLog.Tail(WorkLog.Read(work, log))}");
            }

            Thread.Sleep(100);
        }
    }

    private Source StartSource(string images, ScratchDirectory work, string log, int? seed)
    {
        var port = BackgroundVerb.FreePort();
        string[] seedArgs = seed is { } s ? ["--seed-node", $"127.0.0.1:{s.ToString(CultureInfo.InvariantCulture)}"] : [];
        var process = BackgroundVerb.Start(HostInvocation.Prefix(),
            ["page-server", "-D", images, "-W", work.Path, "--address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--lazy-pages", "--transport", "akka",
                "--cluster", "--name", Name, "-v", "3", "-o", log, .. seedArgs]);
        if (!process.WaitForLog(Path.Combine(work.Path, log), "Using ", Bound))
        {
            var (exit, _, stderr) = process.WaitForExit(TimeSpan.FromSeconds(10));
            throw new InvalidOperationException($"page-server did not start (exit {exit}): {stderr} {WorkLog.Read(work, log)}");
        }

        output.WriteLine($"page-server --transport akka --cluster pid {process.Pid} on port {port}");
        return new Source(process, port);
    }

    private BackgroundVerb StartDestination(ScratchDirectory work, string which, int seedPort, string config)
    {
        var dir = work.CreateSub(which);
        var empty = Directory.CreateDirectory(Path.Combine(dir, "nothing-here")).FullName;
        var process = BackgroundVerb.Start(HostInvocation.Prefix(),
            ["lazy-pages", "-D", empty, "-W", dir, "--page-server", "--transport", "akka", "--cluster", "--checkpoint", Name,
                "--seed-node", $"127.0.0.1:{seedPort.ToString(CultureInfo.InvariantCulture)}", "-v", "3", "-o", "lp.log", "--config", config]);
        if (!process.WaitForLog(Path.Combine(dir, "lp.log"), $"listening on {Path.Combine(dir, "lazy-pages.socket")}", Bound))
        {
            var (exit, _, stderr) = process.WaitForExit(TimeSpan.FromSeconds(10));
            throw new InvalidOperationException($"lazy-pages {which} did not start (exit {exit}): {stderr} {WorkLog.Read(work, $"{which}/lp.log")}");
        }

        output.WriteLine($"lazy-pages --cluster {which} pid {process.Pid}");
        return process;
    }

    /// <summary>SIGTERM, a clean exit, and the bytes it sent each destination.</summary>
    private (long LazyBytes, Dictionary<string, long> PerDestination) StopSource(Source source, ScratchDirectory work, string log)
    {
        source.Process.Signal(SigTerm);
        var (exit, _, stderr) = source.Process.WaitForExit(Bound);
        var text = WorkLog.Read(work, log);
        output.WriteLine(WorkLog.Tail(text));
        Assert.True(exit == 0, $"page-server exited {exit}: {stderr}");
        var perDestination = new Dictionary<string, long>(StringComparer.Ordinal);
        long lazyBytes = 0;
        foreach (Match match in SentRegex().Matches(text))
        {
            perDestination[match.Groups[2].Value] = long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            lazyBytes = long.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture);
        }

        return (lazyBytes, perDestination);
    }

    /// <summary>
    /// One simulated restore, in a restorer process of its own as each <c>criu restore</c> is. Not in the test process:
    /// the restorer is the socket's peer, and a guardian that cannot resolve the tasks' pids (the simulator's processes do
    /// not carry the checkpoint's pids) stops what the restorer started, which in one shared test process would be every
    /// destination's tasks.
    /// </summary>
    private static SimReport Simulate(string images, ScratchDirectory work, string which, TimeSpan hold, TouchGate? gate = null) =>
        RestoreSimProcess.Run(new RestoreSimOptions
        {
            ImagesDir = images,
            WorkDir = Path.Combine(work.Path, which),
            Touch = TouchOrder.Rand,
            Threads = 2,
            Timeout = Bound,
            HoldBeforeTouch = hold,
            TouchGate = gate?.Path,
        }, out var error) ?? new SimReport { Ok = false, Error = $"{which}: {error}" };

    private sealed record Source(BackgroundVerb Process, int Port) : IDisposable
    {
        public void Dispose() => Process.Dispose();
    }
}
