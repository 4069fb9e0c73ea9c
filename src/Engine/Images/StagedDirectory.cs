namespace LazyActors.Engine.Images;

/// <summary>
/// An output directory written out of sight and put in place only when complete: files go to a hidden sibling
/// (<c>.NAME.partial-PID</c>, same file system, so the final step is one rename), and a failed write leaves no
/// half-written output behind (<see cref="Dispose"/> removes the sibling). The target must not exist, or be an empty
/// directory; with <c>force</c> an existing directory is replaced (only once the new one is complete).
/// </summary>
internal sealed class StagedDirectory : IDisposable
{
    private readonly string _target;
    private readonly bool _force;
    private bool _committed;

    private StagedDirectory(string target, string staging, bool force)
    {
        _target = target;
        Path = staging;
        _force = force;
    }

    /// <summary>Where the output is written until <see cref="Commit"/>.</summary>
    public string Path { get; }

    /// <summary>Checks <paramref name="target"/> and creates the staging directory beside it (and missing parents).</summary>
    /// <exception cref="IOException">The target is a non-empty directory (without <paramref name="force"/>) or not a directory.</exception>
    public static StagedDirectory Begin(string target, bool force)
    {
        var full = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(target));
        RequireUsable(full, force);
        var parent = System.IO.Path.GetDirectoryName(full) ?? throw new IOException($"{target}: cannot write an output directory at the root");
        Directory.CreateDirectory(parent);
        var staging = System.IO.Path.Combine(parent, $".{System.IO.Path.GetFileName(full)}.partial-{Environment.ProcessId}");
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        Directory.CreateDirectory(staging);
        return new StagedDirectory(full, staging, force);
    }

    /// <summary>Puts the complete output in place of the target.</summary>
    public void Commit()
    {
        RequireUsable(_target, _force);
        if (Directory.Exists(_target))
        {
            Directory.Delete(_target, recursive: true);
        }

        Directory.Move(Path, _target);
        _committed = true;
    }

    /// <summary>Removes the staging directory unless it was committed.</summary>
    public void Dispose()
    {
        if (!_committed && Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }

    private static void RequireUsable(string target, bool force)
    {
        if (File.Exists(target) || (!Directory.Exists(target) && new FileInfo(target).LinkTarget is not null))
        {
            throw new IOException($"output {target} exists and is not a directory");
        }

        if (!force && Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
        {
            throw new IOException($"output directory {target} is not empty: its old files would mix with the new ones (choose an empty or new directory, or --force to replace it)");
        }
    }
}
