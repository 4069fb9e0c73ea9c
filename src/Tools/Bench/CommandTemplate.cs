using System.Text;

namespace LazyActors.Tools.Bench;

/// <summary>
/// A daemon command line given as one string (<c>--daemon "criu lazy-pages"</c>), split like a POSIX shell splits
/// words: whitespace separates, single quotes keep everything literally, double quotes keep whitespace and honour
/// backslash escapes of <c>"</c> and <c>\</c>, a backslash outside quotes escapes the next character.
/// No expansion of variables, globs or redirections is performed.
/// </summary>
public static class CommandTemplate
{
    /// <summary>Splits <paramref name="command"/> into argv words.</summary>
    /// <exception cref="FormatException">Unterminated quote, trailing backslash, or no word at all.</exception>
    public static IReadOnlyList<string> Split(string command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var words = new List<string>();
        var current = new StringBuilder();
        bool inWord = false;
        for (int i = 0; i < command.Length; i++)
        {
            char c = command[i];
            switch (c)
            {
                case ' ' or '\t' or '\n':
                    if (inWord)
                    {
                        words.Add(current.ToString());
                        current.Clear();
                        inWord = false;
                    }

                    break;
                case '\'':
                    int close = command.IndexOf('\'', i + 1);
                    if (close < 0)
                    {
                        throw new FormatException($"Unterminated single quote at position {i} in daemon command: {command}");
                    }

                    current.Append(command, i + 1, close - i - 1);
                    i = close;
                    inWord = true;
                    break;
                case '"':
                    i = ReadDoubleQuoted(command, i, current);
                    inWord = true;
                    break;
                case '\\':
                    if (i + 1 >= command.Length)
                    {
                        throw new FormatException($"Trailing backslash in daemon command: {command}");
                    }

                    current.Append(command[++i]);
                    inWord = true;
                    break;
                default:
                    current.Append(c);
                    inWord = true;
                    break;
            }
        }

        if (inWord)
        {
            words.Add(current.ToString());
        }

        if (words.Count == 0)
        {
            throw new FormatException("The daemon command is empty.");
        }

        return words;
    }

    /// <summary>The words of <paramref name="template"/> followed by the criu-compatible lazy-pages options.</summary>
    public static IReadOnlyList<string> LazyPagesArgv(IReadOnlyList<string> template, string imagesDir, string workDir, int statusFd, IEnumerable<string> extra)
    {
        var argv = new List<string>(template) { "-D", imagesDir, "-W", workDir, "--status-fd", statusFd.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        argv.AddRange(extra);
        return argv;
    }

    /// <summary>Quotes words for display so that <see cref="Split"/> gives them back.</summary>
    public static string Join(IEnumerable<string> words) =>
        string.Join(' ', words.Select(w => w.Length > 0 && w.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c)) ? w : "'" + w.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));

    private static int ReadDoubleQuoted(string command, int open, StringBuilder current)
    {
        for (int i = open + 1; i < command.Length; i++)
        {
            char c = command[i];
            if (c == '"')
            {
                return i;
            }

            if (c == '\\' && i + 1 < command.Length && command[i + 1] is '"' or '\\')
            {
                current.Append(command[++i]);
                continue;
            }

            current.Append(c);
        }

        throw new FormatException($"Unterminated double quote at position {open} in daemon command: {command}");
    }
}
