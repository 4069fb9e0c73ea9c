using System.Buffers.Binary;
using System.Text;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;

namespace LazyActors.Tools.Simulation;

/// <summary>
/// The private control channel between the simulator and each of its task processes (a UNIX stream socket).
/// Frames are <c>u32 type, u32 length, payload</c> in host byte order; READY is followed by one byte carrying the
/// task's uffd with SCM_RIGHTS, exactly as a task hands it to CRIU's lazy-pages socket.
/// </summary>
internal static class SimControl
{
    public const uint Ready = 1;
    public const uint Handed = 2;
    public const uint Go = 3;
    public const uint Result = 4;
    public const uint Error = 5;
    public const uint Timeout = 6;

    /// <summary>Task → simulator: every first touch is done; waiting for <see cref="VerifyNow"/>.</summary>
    public const uint Touched = 7;

    /// <summary>Simulator → task: all tasks have touched; verify now (keeps verification load out of touch latencies).</summary>
    public const uint VerifyNow = 8;

    private const int MaxPayload = 1 << 20;

    public static void Send(SafeFdHandle socket, uint type, ReadOnlySpan<byte> payload)
    {
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(header, type);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)payload.Length);
        UnixSocket.SendExactly(socket, header);
        if (!payload.IsEmpty)
        {
            UnixSocket.SendExactly(socket, payload);
        }
    }

    public static void Send(SafeFdHandle socket, uint type, string text) => Send(socket, type, Encoding.UTF8.GetBytes(text));

    public static (uint Type, byte[] Payload) Receive(SafeFdHandle socket, TimeSpan timeout)
    {
        Span<byte> header = stackalloc byte[8];
        UnixSocket.ReceiveExactly(socket, header, timeout);
        var type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (length > MaxPayload)
        {
            throw new InvalidDataException($"restore-sim control frame of type {type} announces {length} bytes (limit {MaxPayload})");
        }

        var payload = new byte[length];
        if (length > 0)
        {
            UnixSocket.ReceiveExactly(socket, payload, timeout);
        }

        return (type, payload);
    }

    public static void Expect(SafeFdHandle socket, uint type, TimeSpan timeout)
    {
        var (got, payload) = Receive(socket, timeout);
        if (got != type)
        {
            throw new InvalidDataException($"restore-sim control: expected frame {type}, got {got} ({Encoding.UTF8.GetString(payload)})");
        }
    }
}
