namespace LazyActors.Testing;

/// <summary>
/// A scratch directory under /tmp with a short name (UNIX socket paths must stay under 108 bytes), removed on dispose.
/// </summary>
public sealed class ScratchDirectory : IDisposable
{
    public ScratchDirectory(string prefix = "la")
    {
        Path = System.IO.Path.Combine("/tmp", $"{prefix}-{Guid.NewGuid().ToString("N")[..12]}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>The path of <paramref name="name"/> inside, not created (for outputs that must not exist yet).</summary>
    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Creates <paramref name="name"/> inside and returns its path.</summary>
    public string CreateSub(string name)
    {
        var sub = Sub(name);
        Directory.CreateDirectory(sub);
        return sub;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // best effort cleanup of a temp dir
        }
    }
}
