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
}
