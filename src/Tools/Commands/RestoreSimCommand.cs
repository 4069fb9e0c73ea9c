using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LazyActors.Tools.Simulation;

namespace LazyActors.Tools.Commands;

/// <summary>
/// <c>restore-sim -D IMAGES [-W WORKDIR] [--touch rand|seq|none] [--threads N] [--verify] [--json]</c>: plays
/// <c>criu restore --lazy-pages</c> against the daemon listening in WORKDIR, on real processes.
/// </summary>
internal static class RestoreSimCommand
{
    public static Command Create()
    {
        var images = new Option<string>("--images-dir", "-D") { Description = "Checkpoint images to restore.", Required = true };
        var workDir = new Option<string?>("--work-dir", "-W") { Description = "Directory of lazy-pages.socket (default: the images dir)." };
        var touch = new Option<TouchOrder>("--touch") { Description = "First-touch order after restore: rand, seq or none.", DefaultValueFactory = _ => TouchOrder.Rand };
        var threads = new Option<int>("--threads") { Description = "Touching threads per task.", DefaultValueFactory = _ => 1 };
        var verify = new Option<bool>("--verify") { Description = "Verify every byte against the images (default on).", DefaultValueFactory = _ => true };
        var noVerify = new Option<bool>("--no-verify") { Description = "Skip the byte-for-byte verification." };
        var scenario = new Option<SimScenario>("--scenario") { Description = "none, fork, mremap, madvise, munmap, exit or kill (applied to the first live task).", DefaultValueFactory = _ => SimScenario.None };
        var timeout = new Option<int>("--timeout") { Description = "Seconds every wait may take before tasks are killed and reaped.", DefaultValueFactory = _ => 60 };
        var seed = new Option<int>("--seed") { Description = "Seed of the random touch order.", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var hold = new Option<int>("--hold-before-touch") { Description = "Milliseconds between the handshake and the first touch (the daemon's background transfer runs meanwhile).", DefaultValueFactory = _ => 0 };

        var gate = new Option<string?>("--touch-gate") { Description = "A file whose creation lets the tasks touch (after --hold-before-touch); waited for up to --timeout." };

        var command = new Command("restore-sim", "Simulate `criu restore --lazy-pages` against a lazy-pages daemon with real processes and userfaultfd.")
        {
            images, workDir, touch, threads, verify, noVerify, scenario, timeout, seed, json, hold, gate,
        };
        command.SetAction(parse =>
        {
            var asJson = parse.GetValue(json);
            var options = new RestoreSimOptions
            {
                ImagesDir = Path.GetFullPath(parse.GetValue(images)!),
                WorkDir = parse.GetValue(workDir) is { } w ? Path.GetFullPath(w) : null,
                Touch = parse.GetValue(touch),
                Threads = Math.Max(1, parse.GetValue(threads)),
                Verify = parse.GetValue(verify) && !parse.GetValue(noVerify),
                Scenario = parse.GetValue(scenario),
                Timeout = TimeSpan.FromSeconds(Math.Max(1, parse.GetValue(timeout))),
                Seed = parse.GetValue(seed),
                HoldBeforeTouch = TimeSpan.FromMilliseconds(Math.Max(0, parse.GetValue(hold))),
                TouchGate = parse.GetValue(gate) is { } g ? Path.GetFullPath(g) : null,
                Progress = asJson ? null : line => Console.Error.WriteLine($"restore-sim: {line}"),
            };
            var report = new RestoreSimulator(options).Run();
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(report, SimJsonContext.Default.SimReport));
            }
            else
            {
                PrintTable(report);
            }

            return report.Ok ? 0 : 1;
        });
        return command;
    }

    private static void PrintTable(SimReport report)
    {
        var inv = CultureInfo.InvariantCulture;
        if (report.Tasks.Count == 0 && report.Error is not null)
        {
            Console.WriteLine($"restore-sim: FAILED: {report.Error}");
            return;
        }

        Console.WriteLine(string.Format(inv, "{0,-8} {1,-10} {2,9} {3,10} {4,9} {5,9} {6,9} {7,14} {8,10}", "pid", "role", "pages", "touch_ms", "p50_us", "p99_us", "max_us", "bytes_verified", "mismatches"));
        foreach (var t in report.Tasks)
        {
            Console.WriteLine(string.Format(inv, "{0,-8} {1,-10} {2,9} {3,10:0.0} {4,9:0.0} {5,9:0.0} {6,9:0.0} {7,14} {8,10}", t.Pid, t.Role, t.Pages, t.TouchMs, t.P50Us, t.P99Us, t.MaxUs, t.BytesVerified, t.Mismatches));
            if (t.Error is not null)
            {
                Console.WriteLine($"  error: {t.Error}");
            }

            if (t.Unserved is { Count: > 0 })
            {
                Console.WriteLine($"  never served: {string.Join(", ", t.Unserved.Take(20))}{(t.Unserved.Count > 20 ? " ..." : "")}");
            }
        }

        foreach (var zombie in report.Zombies)
        {
            Console.WriteLine($"{zombie,-8} zombie");
        }

        Console.WriteLine(string.Format(inv, "restore {0:0} ms, restore-finished to all verified {1:0} ms: {2}", report.RestoreMs, report.TouchToVerifiedMs, report.Ok ? "OK" : "FAILED"));
        if (report.Error is not null)
        {
            Console.WriteLine($"error: {report.Error}");
        }
    }
}
