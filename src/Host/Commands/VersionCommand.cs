using System.CommandLine;

namespace LazyActors.Host.Commands;

/// <summary><c>version</c>: prints the assembly version.</summary>
internal static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "Print the LazyActors version.");
        command.SetAction(_ =>
        {
            Console.WriteLine(typeof(VersionCommand).Assembly.GetName().Version);
            return 0;
        });
        return command;
    }
}
