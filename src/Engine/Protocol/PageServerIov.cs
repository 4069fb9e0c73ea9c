using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LazyActors.Engine.Images;

namespace LazyActors.Engine.Protocol;

/// <summary>
/// CRIU's <c>struct page_server_iov</c> on x86_64 (32 bytes, host byte order, not packed; spec §4.1):
/// <c>[u32 cmd][4 bytes padding][u64 nr_pages][u64 vaddr][u64 dst_id]</c>. The low 16 bits of <c>cmd</c> are the
/// command, the high 16 bits PE_* flags (only with <see cref="PageServerCommand.AddWithFlags"/>). A lazy server echoes
/// the request's padding in its reply, so it is kept rather than assumed zero.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct PageServerIov : IEquatable<PageServerIov>
{
    /// <summary>Bytes of the struct on the wire.</summary>
    public const int Size = 32;

    /// <summary>Bits of <c>cmd</c> holding the command; flags sit above them (PS_CMD_BITS).</summary>
    public const int CommandBits = 16;

    /// <summary>The raw <c>cmd</c> of a lazy server's reply to a GET: PS_IOV_ADD_F | PE_PRESENT &lt;&lt; 16 = 0x00040006.</summary>
    public const uint PagesReplyCommand = (uint)PageServerCommand.AddWithFlags | ((uint)PageFlags.Present << CommandBits);

    /// <summary>Size of the int32 status a server answers PS_IOV_CLOSE and PS_IOV_FORCE_CLOSE with.</summary>
    public const int CloseStatusSize = 4;

    /// <summary><c>__u32 cmd</c>: the command in the low 16 bits, PE_* flags above.</summary>
    [FieldOffset(0)] public uint Command;
    /// <summary>The 4 padding bytes after <c>cmd</c>, echoed by a lazy server.</summary>
    [FieldOffset(4)] public uint Padding;
    /// <summary><c>__u64 nr_pages</c>.</summary>
    [FieldOffset(8)] public ulong NrPages;
    /// <summary><c>__u64 vaddr</c>: the dump-time address.</summary>
    [FieldOffset(16)] public ulong Vaddr;
    /// <summary><c>__u64 dst_id</c>: the raw pid for GET and its reply, else an encoded image id.</summary>
    [FieldOffset(24)] public ulong DstId;

    /// <summary>The command part of <see cref="Command"/>.</summary>
    public readonly PageServerCommand Kind => (PageServerCommand)(Command & 0xFFFF);

    /// <summary>The PE_* flags part of <see cref="Command"/>.</summary>
    public readonly PageFlags Flags => (PageFlags)(Command >> CommandBits);

    /// <summary>A lazy client's request for <paramref name="pages"/> pages of task <paramref name="pid"/> at a dump address.</summary>
    public static PageServerIov Get(int pid, ulong vaddr, ulong pages) =>
        new() { Command = (uint)PageServerCommand.Get, NrPages = pages, Vaddr = vaddr, DstId = (ulong)pid };

    /// <summary>The server's reply to a GET: ADD_F | PE_PRESENT &lt;&lt; 16, echoing vaddr, dst_id and the padding.</summary>
    public static PageServerIov PagesReply(in PageServerIov request, ulong pages) =>
        new()
        {
            Command = PagesReplyCommand,
            Padding = request.Padding,
            NrPages = pages,
            Vaddr = request.Vaddr,
            DstId = request.DstId,
        };

    /// <summary>PS_IOV_CLOSE (no flags: CRIU compares the raw cmd).</summary>
    public static PageServerIov Close() => new() { Command = (uint)PageServerCommand.Close };

    /// <summary>PS_IOV_FORCE_CLOSE: the server answers with its status and ends at once (an inherited socket may stay open).</summary>
    public static PageServerIov ForceClose() => new() { Command = (uint)PageServerCommand.ForceClose };

    /// <summary>Writes the 32 wire bytes (little-endian, as x86_64 CRIU does).</summary>
    public readonly void WriteTo(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"a page_server_iov needs {Size} bytes, got {destination.Length}", nameof(destination));
        }

        BinaryPrimitives.WriteUInt32LittleEndian(destination, Command);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Padding);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], NrPages);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], Vaddr);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], DstId);
    }

    /// <summary>Reads 32 wire bytes.</summary>
    public static PageServerIov ReadFrom(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ArgumentException($"a page_server_iov needs {Size} bytes, got {source.Length}", nameof(source));
        }

        return new PageServerIov
        {
            Command = BinaryPrimitives.ReadUInt32LittleEndian(source),
            Padding = BinaryPrimitives.ReadUInt32LittleEndian(source[4..]),
            NrPages = BinaryPrimitives.ReadUInt64LittleEndian(source[8..]),
            Vaddr = BinaryPrimitives.ReadUInt64LittleEndian(source[16..]),
            DstId = BinaryPrimitives.ReadUInt64LittleEndian(source[24..]),
        };
    }

    /// <summary>Field-wise equality (the padding included).</summary>
    public readonly bool Equals(PageServerIov other) =>
        Command == other.Command && Padding == other.Padding && NrPages == other.NrPages && Vaddr == other.Vaddr && DstId == other.DstId;

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is PageServerIov other && Equals(other);

    /// <inheritdoc/>
    public override readonly int GetHashCode() => HashCode.Combine(Command, Padding, NrPages, Vaddr, DstId);

    /// <summary>Field-wise equality.</summary>
    public static bool operator ==(PageServerIov left, PageServerIov right) => left.Equals(right);

    /// <summary>Field-wise inequality.</summary>
    public static bool operator !=(PageServerIov left, PageServerIov right) => !left.Equals(right);

    /// <summary>The command, flags and fields, for logs and test output.</summary>
    public override readonly string ToString() => $"{Kind} flags={Flags} nr_pages={NrPages} vaddr=0x{Vaddr:x} dst_id={DstId}";
}
