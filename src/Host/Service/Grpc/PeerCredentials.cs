using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LazyActors.Host.Service.Grpc;

/// <summary>
/// The control socket's admission: reads the peer's credentials (<c>SO_PEERCRED</c>) when it connects and refuses
/// every call of a peer whose uid is not the service's, with the reason. The socket's mode (0600)
/// and its directory's (0700) already keep others out; this also holds when they are loosened by mistake.
/// </summary>
internal static class PeerCredentials
{
    private const int SolSocket = 1;  // SOL_SOCKET
    private const int SoPeerCred = 17; // SO_PEERCRED: struct ucred { pid_t pid; uid_t uid; gid_t gid; }

    /// <summary>The connection item that marks a refused peer (its value says why).</summary>
    private const string RefusedItem = "LazyActors.ControlSocket.Refused";

    /// <summary>
    /// The connection middleware that marks every peer not running as <paramref name="uid"/> as refused, before a byte
    /// of HTTP is read; <see cref="RefuseMarkedAsync"/> then answers its calls with PERMISSION_DENIED and the reason (closing
    /// the connection instead would leave the client with nothing but a broken HTTP/2 handshake to explain).
    /// </summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Admit(uint uid, ILogger log) => next => connection =>
    {
        var socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket is null || !TryRead(socket, out var pid, out var peerUid))
        {
            log.LogWarning("control socket: refused a connection whose credentials cannot be read");
            connection.Items[RefusedItem] = "the service refused this client: its credentials (SO_PEERCRED) cannot be read";
        }
        else if (peerUid != uid)
        {
            log.LogWarning("control socket: refused pid {Pid} running as uid {PeerUid} (only uid {Uid} may control the service)", pid, peerUid, uid);
            connection.Items[RefusedItem] = $"the service refused this client: pid {pid} runs as uid {peerUid}, only uid {uid} may use the control socket";
        }

        return next(connection);
    };

    /// <summary>
    /// The request middleware that answers any call on a refused connection with gRPC status PERMISSION_DENIED (a
    /// trailers-only response) and the reason, without running it.
    /// </summary>
    public static async Task RefuseMarkedAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var items = context.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items is not null && items.TryGetValue(RefusedItem, out var why))
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = ((int)global::Grpc.Core.StatusCode.PermissionDenied).ToString(CultureInfo.InvariantCulture);
            context.Response.Headers["grpc-message"] = Uri.EscapeDataString((string)why!);
            await context.Response.CompleteAsync().ConfigureAwait(false);
            return;
        }

        await next(context).ConfigureAwait(false);
    }

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
