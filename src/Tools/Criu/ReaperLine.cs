using System.Globalization;

namespace LazyActors.Tools.Criu;

/// <summary>The <c>KIND key=value ...</c> lines <c>la_reaper</c> writes on its report descriptor.</summary>
internal static class ReaperLine
{
    /// <summary>The first word of <paramref name="line"/> (the event kind).</summary>
    public static string Kind(string line)
    {
        int space = line.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? line : line[..space];
    }

    /// <summary>The key=value fields of a line of kind <paramref name="kind"/>.</summary>
    /// <exception cref="FormatException">The line is of another kind or a field has no '='.</exception>
    public static Dictionary<string, string> Fields(string line, string kind)
    {
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0 || words[0] != kind)
        {
            throw new FormatException($"la_reaper: expected a '{kind}' line, got: {line}");
        }

        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var word in words.Skip(1))
        {
            int eq = word.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"la_reaper: field without '=' in: {line}");
            }

            fields[word[..eq]] = word[(eq + 1)..];
        }

        return fields;
    }

    public static long Long(Dictionary<string, string> fields, string key, string line) =>
        fields.TryGetValue(key, out var text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FormatException($"la_reaper: missing or bad '{key}' in: {line}");

    public static int Int(Dictionary<string, string> fields, string key, string line) => checked((int)Long(fields, key, line));
}
