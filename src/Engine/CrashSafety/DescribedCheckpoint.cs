using Google.Protobuf;
using LazyActors.Engine.Images;
using LazyActors.Engine.Remoting;
using LazyActors.Engine.Remoting.Wire;

namespace LazyActors.Engine.CrashSafety;

/// <summary>
/// The checkpoint a restore over the Akka transport serves, kept beside the crash journal in the work directory: that
/// daemon has no image file, so its successor checks against it that the source still describes the same checkpoint
/// (a source restarted on other images must not have its pages copied into the tree), and a guardian that gives up
/// reads it to name the tasks and ranges that were lost.
/// </summary>
public static class DescribedCheckpoint
{
    /// <summary>The file's name in the work directory.</summary>
    public const string FileName = "lazy-pages.description";

    /// <summary>Writes <paramref name="metadata"/> to <paramref name="path"/> whole or not at all (a temporary file renamed).</summary>
    public static void Save(string path, CheckpointMetadata metadata)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(metadata);
        var kept = Comparable(metadata);
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllBytes(temporary, kept.ToByteArray());
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The description kept at <paramref name="path"/>.</summary>
    /// <exception cref="ImageFormatException">The file is not a description (named).</exception>
    public static CheckpointMetadata Read(string path)
    {
        try
        {
            return CheckpointMetadata.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new ImageFormatException(path, $"not a checkpoint description: {ex.Message}");
        }
    }

    /// <summary>The restore's model of the checkpoint kept at <paramref name="path"/>.</summary>
    /// <exception cref="ImageFormatException">The file is not a usable description (named).</exception>
    public static Checkpoint Load(string path) => CheckpointDescription.ToCheckpoint(Read(path), path);

    /// <summary>
    /// Whether <paramref name="now"/> describes the checkpoint <paramref name="kept"/> describes: every task, VMA and
    /// pagemap run the same. What belongs to one answer or one source process (request id, reply size) is not compared.
    /// </summary>
    public static bool SameCheckpoint(CheckpointMetadata kept, CheckpointMetadata now)
    {
        ArgumentNullException.ThrowIfNull(kept);
        ArgumentNullException.ThrowIfNull(now);
        return Comparable(kept).Equals(Comparable(now));
    }

    private static CheckpointMetadata Comparable(CheckpointMetadata metadata)
    {
        var copy = metadata.Clone();
        copy.RequestId = 0;
        copy.MaxReplyBytes = 0;
        return copy;
    }
}
