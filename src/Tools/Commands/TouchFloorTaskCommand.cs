using System.CommandLine;
using LazyActors.Tools.Simulation;

namespace LazyActors.Tools.Commands;

/// <summary>Hidden verb: one process of the bench's scheduler-floor probe (<see cref="FloorTask"/>).</summary>
internal static class TouchFloorTaskCommand
{
    public static Command Create()
    {
        var pages = new Option<long>("--pages") { Required = true };
        var touch = new Option<TouchOrder>("--touch") { DefaultValueFactory = _ => TouchOrder.Rand };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1 };
        var timeoutMs = new Option<long>("--timeout-ms") { DefaultValueFactory = _ => 60_000 };
        var command = new Command("touch-floor-task", "Internal: one process of the bench's scheduler-floor probe.")
        {
            pages, touch, seed, timeoutMs,
        };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            try
            {
                return FloorTask.Run(Math.Max(1, parse.GetValue(pages)), parse.GetValue(touch), parse.GetValue(seed), TimeSpan.FromMilliseconds(parse.GetValue(timeoutMs)));
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine($"touch-floor-task: {ex.GetType().Name}: {ex.Message}");
                return 2;
            }
        });
        return command;
    }
}
