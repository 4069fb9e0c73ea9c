namespace LazyActors.Engine.Images;

/// <summary>An image file is corrupt, truncated or of an unsupported kind. The message names the file and the problem.</summary>
public sealed class ImageFormatException : Exception
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public ImageFormatException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
    }

    /// <summary>The offending file.</summary>
    public string FilePath { get; }
}
