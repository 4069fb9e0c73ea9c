namespace LazyActors.Engine.Images;

/// <summary>
/// A read of a pages file failed or came back short (an I/O error, or a file cut shorter since it was opened): the pages
/// asked for have no data. Never turned into zeros. The message names the file, the offset and what happened.
/// </summary>
public sealed class PagesFileReadException : IOException
{
    /// <summary>Creates the exception for a read of <paramref name="count"/> bytes at <paramref name="offset"/> of <paramref name="path"/>.</summary>
    public PagesFileReadException(string path, long offset, long count, string problem)
        : base($"{path}: read of {count} bytes at offset {offset} failed: {problem}")
    {
        FilePath = path;
        Offset = offset;
    }

    /// <summary>The pages file.</summary>
    public string FilePath { get; }

    /// <summary>Where in it the failed read started.</summary>
    public long Offset { get; }
}
