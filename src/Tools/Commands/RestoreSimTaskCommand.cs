using System.CommandLine;
using LazyActors.Tools.Simulation;

namespace LazyActors.Tools.Commands;

/// <summary>Hidden verb: the body of one simulated task process, started by <c>restore-sim</c>.</summary>
internal static class RestoreSimTaskCommand
{
    public static Command Create()
    {
        var images = new Option<string>("--images-dir", "-D") { Required = true };
        var pid = new Option<int>("--pid") { Required = true };
        var control = new Option<string>("--ctl") { Required = true };
        var touch = new Option<TouchOrder>("--touch") { DefaultValueFactory = _ => TouchOrder.Rand };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 1 };
        var scenario = new Option<SimScenario>("--scenario") { DefaultValueFactory = _ => SimScenario.None };
        var timeoutMs = new Option<long>("--timeout-ms") { DefaultValueFactory = _ => 60_000 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1 };
        var noVerify = new Option<bool>("--no-verify");
        var command = new Command("restore-sim-task", "Internal: one task process of restore-sim.")
        {
            images, pid, control, touch, threads, scenario, timeoutMs, seed, noVerify,
        };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            var args = new SimTaskArgs(
                parse.GetValue(images)!,
                parse.GetValue(pid),
                parse.GetValue(control)!,
                parse.GetValue(touch),
                Math.Max(1, parse.GetValue(threads)),
                parse.GetValue(scenario),
                !parse.GetValue(noVerify),
                TimeSpan.FromMilliseconds(parse.GetValue(timeoutMs)),
                parse.GetValue(seed));
            try
            {
                return SimulatedTask.Run(args);
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine($"restore-sim-task {args.Pid}: {ex.GetType().Name}: {ex.Message}");
                return 2;
            }
        });
        return command;
    }
}
