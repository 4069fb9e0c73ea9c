using System.Globalization;
using System.Text.RegularExpressions;
using LazyActors.Tools.Criu;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Tools.Tests.Criu;

/// <summary>
/// What the real-CRIU recovery tests of both remote transports share: the daemon's short recovery deadlines, a source
/// killed before the trigger and started again later, and the checks of a source that never comes back (the tree
/// stopped, exit 1, the error naming the source, every task and the ranges it could not serve, no task handed zeros).
/// </summary>
internal static class SourceLoss
{
    /// <summary>How long one step of a recovery test may take.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Writes a daemon configuration with short recovery deadlines into <paramref name="directory"/>: background
    /// transfer held back <paramref name="pushDelay"/> after "restore finished" (so nothing is fetched before the source
    /// is killed and the tasks' faults are the first reads), 2 s reply timeout, fast reconnects, the given give-up time.
    /// </summary>
    public static string WriteRecoveryConfig(string directory, string name, string giveUpAfter, string pushDelay)
    {
        var config = Path.Combine(directory, $"{name}-{giveUpAfter}-{pushDelay}.hocon");
        File.WriteAllText(config, $$"""
            lazy-actors.engine {
              background-push-delay = {{pushDelay}}
              remote {
                reply-timeout = 2s
                connect-timeout = 1s
                reconnect-backoff-min = 20ms
                reconnect-backoff-max = 200ms
                give-up-after = {{giveUpAfter}}
              }
            }
            """);
        return config;
    }

    /// <summary>
    /// Harness options whose trigger hook kills the restore's source and starts it again <paramref name="after"/> later;
    /// <paramref name="restart"/> gets the source and the restart's outcome (null: it listens again).
    /// </summary>
    public static CriuHarnessOptions KillThenStartAgain(ITestOutputHelper output, string what, TimeSpan after, Action<RunningPageServer, Task<string?>> restart) =>
        RealCriuRequirement.TestOptions(output) with
        {
            BeforeTrigger = async tree =>
            {
                var source = tree.Source ?? throw new InvalidOperationException("no page server in a restore through one");
                await source.KillAsync(Bound);
                output.WriteLine($"killed the {what} on port {source.Endpoint.Port}; the tree is triggered now and faults on pages nobody serves");
                restart(source, StartAgainLaterAsync(output, what, source, after));
            },
        };

    /// <summary>Harness options whose trigger hook kills the restore's source for good.</summary>
    public static CriuHarnessOptions KillForGood(ITestOutputHelper output) =>
        RealCriuRequirement.TestOptions(output) with
        {
            BeforeTrigger = async tree => await (tree.Source ?? throw new InvalidOperationException("no page server in a restore through one")).KillAsync(Bound),
        };

    /// <summary>
    /// Asserts the end of a restore whose source never came back: exit 1, one error line starting with
    /// <paramref name="errorPrefix"/> that says it gave up, stopped all <paramref name="tasks"/> processes (the restored
    /// root among them, every pid resolved), names the ranges not served; the root killed, no task saw wrong bytes.
    /// </summary>
    public static async Task AssertTreeStoppedNamingWhatWasMissingAsync(CriuRestoreResult result, string errorPrefix, int tasks, ITestOutputHelper output)
    {
        output.WriteLine(result.Summary());
        var stderr = Read(Path.Combine(result.WorkDirectory, "daemon.out"));
        output.WriteLine(stderr);
        output.WriteLine(Read(Path.Combine(result.WorkDirectory, "daemon.log")));
        Assert.Equal(1, result.DaemonExitCode);
        var error = Assert.Single(stderr.Split('\n'), line => line.StartsWith(errorPrefix, StringComparison.Ordinal));
        Assert.Contains(" given up after ", error, StringComparison.Ordinal);
        var stopped = Regex.Match(error, @"SIGKILL to (\d+) process\(es\) of the restored tree: ([\d, ]+);");
        Assert.True(stopped.Success, error);
        Assert.Equal(tasks, int.Parse(stopped.Groups[1].Value, CultureInfo.InvariantCulture));
        var rootPid = int.Parse((await File.ReadAllTextAsync(Path.Combine(result.WorkDirectory, "restore.pid"))).Trim(), CultureInfo.InvariantCulture);
        Assert.Contains(rootPid, stopped.Groups[2].Value.Split(", ").Select(p => int.Parse(p, CultureInfo.InvariantCulture)));
        Assert.DoesNotContain("not every task's pid was found", error, StringComparison.Ordinal); // real CRIU: every task resolved
        Assert.Matches(@"not served: task \d+ \(host pid \d+\): \d+ page\(s\) in \d+ range\(s\): 0x[0-9a-f]+-0x[0-9a-f]+", error);
        Assert.Null(result.RootExitCode); // killed, not exited
        Assert.Contains(result.Failures, f => f.Contains($"pid {rootPid.ToString(CultureInfo.InvariantCulture)} killed by signal 9", StringComparison.Ordinal));
        Assert.DoesNotContain(result.Failures, f => f.Contains("wrong bytes", StringComparison.Ordinal)); // stopped, never handed zeros
        Assert.Equal(0, result.BytesVerified);
    }

    /// <summary>A file's text, or a note that it is absent (for test output).</summary>
    public static string Read(string path) => File.Exists(path) ? File.ReadAllText(path) : $"({path} absent)";

    private static async Task<string?> StartAgainLaterAsync(ITestOutputHelper output, string what, RunningPageServer source, TimeSpan after)
    {
        await Task.Delay(after);
        var problem = await source.StartAgainAsync(Bound);
        output.WriteLine(problem ?? $"the {what} listens again on port {source.Endpoint.Port}");
        return problem;
    }
}
