namespace LazyActors.Engine.Interop;

/// <summary>The CMSG_* macros of &lt;sys/socket.h&gt; as static helpers (alignment is sizeof(size_t) = 8).</summary>
internal static unsafe class Cmsg
{
    /// <summary>CMSG_ALIGN(length).</summary>
    public static int Align(int length) => (length + sizeof(nuint) - 1) & ~(sizeof(nuint) - 1);

    /// <summary>CMSG_SPACE(dataLength): bytes a control message with that much data occupies in the buffer.</summary>
    public static int Space(int dataLength) => Align(Cmsghdr.Size) + Align(dataLength);

    /// <summary>CMSG_LEN(dataLength): the value of cmsg_len for that much data.</summary>
    public static int Len(int dataLength) => Align(Cmsghdr.Size) + dataLength;

    /// <summary>CMSG_DATA(header): the first data byte.</summary>
    public static byte* Data(Cmsghdr* header) => (byte*)header + Align(Cmsghdr.Size);

    /// <summary>CMSG_FIRSTHDR(message): the first control header or null.</summary>
    public static Cmsghdr* FirstHeader(Msghdr* message) =>
        message->ControlLength >= Cmsghdr.Size ? (Cmsghdr*)message->Control : null;

    /// <summary>CMSG_NXTHDR(message, header): the next control header or null when none fits in the buffer.</summary>
    public static Cmsghdr* NextHeader(Msghdr* message, Cmsghdr* header)
    {
        if (header->Length < Cmsghdr.Size)
        {
            return null;
        }

        var next = (Cmsghdr*)((byte*)header + Align((int)header->Length));
        var end = (byte*)message->Control + message->ControlLength;
        if ((byte*)(next + 1) > end || (byte*)next + Align((int)next->Length) > end)
        {
            return null;
        }

        return next;
    }
}
