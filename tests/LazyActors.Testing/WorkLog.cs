namespace LazyActors.Testing;

/// <summary>Log files that processes under test write into a scratch directory, read while they may still write.</summary>
public static class WorkLog
{
    /// <summary>The text of <paramref name="name"/> (a path relative to <paramref name="work"/>), or a note that it was not written.</summary>
    public static string Read(ScratchDirectory work, string name)
    {
        ArgumentNullException.ThrowIfNull(work);
        var path = Path.Combine(work.Path, name);
        return File.Exists(path) ? BackgroundVerb.ReadShared(path) : $"({name} not written)";
    }

    /// <summary>The last 6000 characters of <paramref name="log"/> (enough for an assertion message).</summary>
    public static string Tail(string log)
    {
        ArgumentNullException.ThrowIfNull(log);
        return log.Length > 6000 ? log[^6000..] : log;
    }
}
