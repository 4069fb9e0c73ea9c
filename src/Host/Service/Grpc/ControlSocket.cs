using System.Net.Sockets;

namespace LazyActors.Host.Service.Grpc;

/// <summary>The control socket's file: its directory (created 0700 when missing), a stale socket left by a service that
/// died (removed), one that a live service listens on (refused), and its mode once listening (0600).</summary>
internal static class ControlSocket
{
    /// <summary>Makes <paramref name="path"/> ready for binding.</summary>
    /// <exception cref="IOException">Another service listens there, or the path is not a socket.</exception>
    public static void Prepare(string path)
    {
        var directory = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        if (!File.Exists(path))
        {
            return;
        }

        if ((File.GetAttributes(path) & FileAttributes.Directory) != 0 || new FileInfo(path).LinkTarget is not null)
        {
            throw new IOException($"control socket {path} exists and is not a socket");
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            File.Delete(path); // nobody listens: left by a service that died
            return;
        }

        throw new IOException($"another service listens on the control socket {path}");
    }

    /// <summary>Root-only: read and write for the owner alone.</summary>
    public static void Restrict(string path) => File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
}
