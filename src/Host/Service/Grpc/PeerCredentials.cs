using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;

namespace LazyActors.Host.Service.Grpc;

/// <summary>
/// Kestrel connection middleware of the control socket: reads the peer's credentials (<c>SO_PEERCRED</c>) and closes
/// the connection of any peer whose uid is not the service's, before a byte of HTTP is read. The socket's mode (0600)
/// and its directory's (0700) already keep others out; this also holds when they are loosened by mistake.
/// </summary>
internal static class PeerCredentials
{
    private const int SolSocket = 1;  // SOL_SOCKET
    private const int SoPeerCred = 17; // SO_PEERCRED: struct ucred { pid_t pid; uid_t uid; gid_t gid; }

    /// <summary>The middleware that admits only peers running as <paramref name="uid"/>.</summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Admit(uint uid, ILogger log) => next => async connection =>
    {
        var socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket is null || !TryRead(socket, out var pid, out var peerUid))
        {
            log.LogWarning("control socket: refused a connection whose credentials cannot be read");
            connection.Abort(new ConnectionAbortedException("peer credentials unavailable"));
            return;
        }

        if (peerUid != uid)
        {
            log.LogWarning("control socket: refused pid {Pid} running as uid {PeerUid} (only uid {Uid} may control the service)", pid, peerUid, uid);
            connection.Abort(new ConnectionAbortedException($"uid {peerUid} may not use the control socket"));
            return;
        }

        await next(connection).ConfigureAwait(false);
    };

    /// <summary>Reads <c>SO_PEERCRED</c> of a connected Unix socket.</summary>
    public static bool TryRead(Socket socket, out int pid, out uint uid)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Span<byte> ucred = stackalloc byte[12];
        pid = 0;
        uid = uint.MaxValue;
        try
        {
            if (socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred) < 12)
            {
                return false;
            }
        }
        catch (SocketException)
        {
            return false;
        }

        pid = BinaryPrimitives.ReadInt32LittleEndian(ucred);
        uid = BinaryPrimitives.ReadUInt32LittleEndian(ucred[4..]);
        return true;
    }

    /// <summary>The effective uid of this process (from <c>/proc/self/status</c>).</summary>
    public static uint EffectiveUid()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                var fields = line["Uid:".Length..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                return uint.Parse(fields[1], CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException("/proc/self/status has no Uid line");
    }
}
