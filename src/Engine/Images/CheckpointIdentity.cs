using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace LazyActors.Engine.Images;

/// <summary>
/// Which checkpoint a restore reads, as far as its bytes go: two restores with equal identities read the same pages, so
/// they may share one opened checkpoint and one page cache. Local images are identified by their directory's real path
/// plus a fingerprint of every image file in it (name, size, modification time), so a dump rewritten in place is a new
/// checkpoint; a remote source by where its page server is and the images it was dumped with.
/// </summary>
/// <param name="Key">The comparable identity.</param>
/// <param name="Display">What logs and the control API show.</param>
public sealed record CheckpointIdentity(string Key, string Display)
{
    /// <summary>The identity of the local image directory <paramref name="imagesDirectory"/> as it is now.</summary>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    public static CheckpointIdentity OfLocal(string imagesDirectory)
    {
        var directory = new DirectoryInfo(Path.GetFullPath(imagesDirectory));
        if (!directory.Exists)
        {
            throw new DirectoryNotFoundException($"images directory {directory.FullName} does not exist");
        }

        var real = directory.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? directory.FullName;
        var fingerprint = new StringBuilder();
        foreach (var file in new DirectoryInfo(real).EnumerateFiles("*.img").OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            fingerprint.Append(CultureInfo.InvariantCulture, $"{file.Name}:{file.Length}:{file.LastWriteTimeUtc.Ticks};");
        }

        if (Directory.Exists(Path.Combine(real, Checkpoint.ParentLinkName)))
        {
            fingerprint.Append(OfLocal(Path.Combine(real, Checkpoint.ParentLinkName)).Key);
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(fingerprint.ToString())))[..16];
        return new CheckpointIdentity($"local:{real}:{hash}", real);
    }

    /// <summary>The identity of a checkpoint served by a CRIU page server at <paramref name="host"/>:<paramref name="port"/>
    /// whose non-lazy images are in <paramref name="imagesDirectory"/>.</summary>
    public static CheckpointIdentity OfRemote(string host, int port, string imagesDirectory)
    {
        var images = OfLocal(imagesDirectory);
        return new CheckpointIdentity(string.Create(CultureInfo.InvariantCulture, $"remote:{host}:{port}:{images.Key}"),
            string.Create(CultureInfo.InvariantCulture, $"{host}:{port} ({images.Display})"));
    }
}
