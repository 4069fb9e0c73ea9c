using Akka.Configuration;

namespace LazyActors.Engine.Configuration;

/// <summary>
/// Reads the keys of one HOCON section that must be there: the defaults live in Reference.conf only, so a key that is
/// missing (or of the wrong kind) is an error naming it, never a silent default restated in code.
/// </summary>
internal sealed class RequiredKeys(Config section, string sectionPath)
{
    public int Int(string key) => Read(key, () => section.GetInt(key));

    public bool Boolean(string key) => Read(key, () => section.GetBoolean(key));

    public string String(string key) => Read(key, () => section.GetString(key));

    public TimeSpan Duration(string key) => Read(key, () => section.GetTimeSpan(key, allowInfinite: false));

    /// <summary>A size such as <c>512KiB</c>.</summary>
    public long Bytes(string key) => Read(key, () => section.GetByteSize(key) ?? throw new FormatException("not a size"));

    /// <summary>A size that must fit an <see cref="int"/>.</summary>
    public int SmallBytes(string key) => Read(key, () => checked((int)(section.GetByteSize(key) ?? throw new FormatException("not a size"))));

    /// <summary>A number, or null for one of <paramref name="offWords"/>.</summary>
    public int? IntOr(string key, params string[] offWords) => offWords.Contains(String(key)) ? null : Int(key);

    /// <summary>A size, or null for one of <paramref name="offWords"/>.</summary>
    public long? BytesOr(string key, params string[] offWords) => offWords.Contains(String(key)) ? null : Bytes(key);

    /// <summary>A duration, or null for one of <paramref name="foreverWords"/>.</summary>
    public TimeSpan? DurationOr(string key, params string[] foreverWords) => foreverWords.Contains(String(key)) ? null : Duration(key);

    /// <summary>A list of user ids (0 to 4294967294).</summary>
    public IReadOnlyList<uint> Uids(string key) => Read(key, () => section.GetLongList(key)
        .Select(uid => uid is >= 0 and < uint.MaxValue ? (uint)uid : throw new FormatException($"{uid} is not a uid"))
        .ToArray());

    /// <summary>One of a closed set of words.</summary>
    public T OneOf<T>(string key, params (string Word, T Value)[] choices)
    {
        var word = String(key);
        foreach (var (choice, value) in choices)
        {
            if (choice == word)
            {
                return value;
            }
        }

        throw Invalid(key, $"must be {string.Join(", ", choices.Select(c => c.Word))}, got \"{word}\"");
    }

    /// <summary>An error about <paramref name="key"/> with its full path.</summary>
    public ConfigurationException Invalid(string key, string problem) => new($"{sectionPath}.{key} {problem}");

    private T Read<T>(string key, Func<T> read)
    {
        if (!section.HasPath(key))
        {
            throw Invalid(key, "is missing");
        }

        try
        {
            return read();
        }
        catch (Exception ex) when (ex is not ConfigurationException)
        {
            throw Invalid(key, $"is invalid: {ex.Message}");
        }
    }
}
