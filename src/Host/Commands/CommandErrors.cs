using LazyActors.Engine.Images;

namespace LazyActors.Host.Commands;

/// <summary>
/// Which exceptions a verb reports as one line (<c>VERB: message</c>, exit 1): bad input or an environment problem,
/// whose message names the file, directory or peer. Anything else is a bug, reported by <see cref="Program"/>.
/// </summary>
internal static class CommandErrors
{
    /// <summary>True for the failures a user can act on from the message alone.</summary>
    public static bool IsUserError(Exception ex) =>
        ex is ImageFormatException or IOException or UnauthorizedAccessException or ArgumentException or InvalidDataException;

    /// <summary>
    /// Runs an offline verb's work: exit 0 when it returns, exit 1 with one line <c>VERB: message</c> on stderr for a
    /// user error; anything else propagates to <see cref="Program"/> as a bug.
    /// </summary>
    public static int Run(string verb, Action work)
    {
        try
        {
            work();
            return 0;
        }
        catch (Exception ex) when (IsUserError(ex))
        {
            Console.Error.WriteLine($"{verb}: {ex.Message}");
            return 1;
        }
    }
}
