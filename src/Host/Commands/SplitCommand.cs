using System.CommandLine;
using LazyActors.Engine.Images;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>split -D DIR --eager-out E --lazy-out L</c>: E is what <c>criu dump --lazy-pages</c> leaves (lazy entries PE_LAZY
/// only, their data removed); L is an image set with only the lazy entries and their pages, for a page server
/// (see <see cref="CheckpointSplitter"/>).
/// </summary>
internal static class SplitCommand
{
    public static Command Create()
    {
        var directory = new Option<string>("--images-dir", "-D") { Description = "normal CRIU checkpoint to split", Required = true };
        var eager = new Option<string>("--eager-out") { Description = "output: lazy-dump-shaped image set (no lazy data)", Required = true };
        var lazy = new Option<string>("--lazy-out") { Description = "output: the lazy pages as an image set a page server can serve", Required = true };
        var force = new Option<bool>("--force") { Description = "replace output directories that are not empty (by default they are refused)" };
        var command = new Command("split", "Split a checkpoint into an eager image set and a lazy page set; merge reverses it byte for byte.");
        command.Options.Add(directory);
        command.Options.Add(eager);
        command.Options.Add(lazy);
        command.Options.Add(force);
        command.SetAction(parseResult => CommandErrors.Run("split", () =>
            CheckpointSplitter.Split(parseResult.GetValue(directory)!, parseResult.GetValue(eager)!, parseResult.GetValue(lazy)!, parseResult.GetValue(force))));
        return command;
    }
}
