using System.Runtime.InteropServices;
using System.Text;

namespace LazyActors.Engine.Interop;

/// <summary>
/// struct sockaddr_un (110 bytes): [u16 sun_family][char sun_path[108]]. Built like CRIU does: the address length
/// passed to bind/connect is <c>offsetof(sun_path) + strlen(path)</c>, without a trailing NUL. Relative paths are
/// resolved by the kernel against the caller's working directory.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal unsafe struct SockaddrUn
{
    public const int Size = 110;
    public const int PathOffset = 2;
    public const int PathCapacity = 108;

    [FieldOffset(0)] public ushort Family;               // sa_family_t sun_family
    [FieldOffset(2)] public fixed byte Path[PathCapacity]; // char sun_path[108]

    /// <summary>Builds an address for <paramref name="path"/> and returns it with its length.</summary>
    /// <exception cref="ArgumentException">The path is empty, contains NUL, or does not fit sun_path.</exception>
    public static SockaddrUn Create(string path, out uint addressLength)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"UNIX socket path '{path}' contains a NUL character.", nameof(path));
        }

        var byteCount = Encoding.UTF8.GetByteCount(path);
        if (byteCount > PathCapacity)
        {
            throw new ArgumentException(
                $"UNIX socket path '{path}' is {byteCount} bytes; sun_path holds at most {PathCapacity}.", nameof(path));
        }

        var address = default(SockaddrUn);
        address.Family = SocketConstants.AF_UNIX;
        Encoding.UTF8.GetBytes(path, new Span<byte>(address.Path, PathCapacity));
        addressLength = (uint)(PathOffset + byteCount);
        return address;
    }

    /// <summary>Decodes the path of an address of <paramref name="addressLength"/> bytes (up to the first NUL).</summary>
    public readonly string GetPath(uint addressLength)
    {
        var length = Math.Clamp((int)addressLength - PathOffset, 0, PathCapacity);
        fixed (byte* path = Path)
        {
            var bytes = new ReadOnlySpan<byte>(path, length);
            var nul = bytes.IndexOf((byte)0);
            return Encoding.UTF8.GetString(nul >= 0 ? bytes[..nul] : bytes);
        }
    }
}
