using System.CommandLine;
using System.Diagnostics;
using LazyActors.Engine.Ranges;
using LazyActors.Tools.Synthetic;

namespace LazyActors.Tools.Commands;

/// <summary><c>synth -o DIR --tasks N --mib M [--seed S]</c>: writes a synthetic CRIU 4.2 checkpoint (see <see cref="SyntheticCheckpoint"/>).</summary>
internal static class SynthCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output", "-o") { Description = "output image directory", Required = true };
        var tasks = new Option<int>("--tasks") { Description = "number of processes", DefaultValueFactory = _ => 1 };
        var mib = new Option<int>("--mib") { Description = "MiB of lazy-capable anonymous memory per process", DefaultValueFactory = _ => 16 };
        var seed = new Option<ushort>("--seed") { Description = "pattern seed (16 bits)", DefaultValueFactory = _ => 0x5EED };
        var command = new Command("synth", "Write a synthetic CRIU 4.2 checkpoint with the fixtures' page pattern.");
        command.Options.Add(output);
        command.Options.Add(tasks);
        command.Options.Add(mib);
        command.Options.Add(seed);
        command.SetAction(parseResult =>
        {
            int taskCount = parseResult.GetValue(tasks);
            int size = parseResult.GetValue(mib);
            if (taskCount < 1 || size < 1)
            {
                Console.Error.WriteLine("synth: --tasks and --mib must be at least 1");
                return 1;
            }

            var watch = Stopwatch.StartNew();
            var layout = SyntheticCheckpoint.Write(parseResult.GetValue(output)!, new SyntheticCheckpointOptions(taskCount, (long)size << 20, parseResult.GetValue(seed)));
            long pages = layout.Tasks.Sum(t => t.Pagemap.Sum(r => (long)r.NrPages));
            Console.WriteLine($"wrote {layout.Tasks.Count} task(s), {pages} dumped pages ({pages * (long)PageGeometry.PageSize} bytes) in {watch.ElapsedMilliseconds} ms");
            return 0;
        });
        return command;
    }
}
