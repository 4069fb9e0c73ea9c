using System.CommandLine;
using LazyActors.Engine.Images;

namespace LazyActors.Host.Commands;

/// <summary><c>merge --eager E --lazy L -o OUT</c>: rebuilds the normal checkpoint that <c>split</c> took apart (see <see cref="CheckpointMerger"/>).</summary>
internal static class MergeCommand
{
    public static Command Create()
    {
        var eager = new Option<string>("--eager") { Description = "eager image set written by split", Required = true };
        var lazy = new Option<string>("--lazy") { Description = "lazy page set written by split", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "output directory for the merged checkpoint", Required = true };
        var force = new Option<bool>("--force") { Description = "replace the output directory if it is not empty (by default it is refused)" };
        var command = new Command("merge", "Merge an eager image set and a lazy page set back into a normal checkpoint.");
        command.Options.Add(eager);
        command.Options.Add(lazy);
        command.Options.Add(output);
        command.Options.Add(force);
        command.SetAction(parseResult => CommandErrors.Run("merge", () =>
            CheckpointMerger.Merge(parseResult.GetValue(eager)!, parseResult.GetValue(lazy)!, parseResult.GetValue(output)!, parseResult.GetValue(force))));
        return command;
    }
}
