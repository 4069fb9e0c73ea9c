namespace LazyActors.Engine.Interop;

/// <summary>userfaultfd ioctl request numbers (x86_64) and the ioctl bits reported by API/REGISTER.</summary>
public static class UffdIoctls
{
    /// <summary>UFFD_API: the API version passed in <see cref="UffdioApi.Api"/>.</summary>
    public const ulong ApiVersion = 0xAA;

    /// <summary>_IOWR(0xAA, 0x3F, struct uffdio_api).</summary>
    public const uint UFFDIO_API = 0xC018AA3F;

    /// <summary>_IOWR(0xAA, 0x00, struct uffdio_register).</summary>
    public const uint UFFDIO_REGISTER = 0xC020AA00;

    /// <summary>_IOR(0xAA, 0x01, struct uffdio_range).</summary>
    public const uint UFFDIO_UNREGISTER = 0x8010AA01;

    /// <summary>_IOR(0xAA, 0x02, struct uffdio_range).</summary>
    public const uint UFFDIO_WAKE = 0x8010AA02;

    /// <summary>_IOWR(0xAA, 0x03, struct uffdio_copy).</summary>
    public const uint UFFDIO_COPY = 0xC028AA03;

    /// <summary>_IOWR(0xAA, 0x04, struct uffdio_zeropage).</summary>
    public const uint UFFDIO_ZEROPAGE = 0xC020AA04;

    /// <summary>_IO(0xAA, 0x00) on /dev/userfaultfd: creates a userfaultfd; the argument is the open flags.</summary>
    public const uint USERFAULTFD_IOC_NEW = 0xAA00;

    /// <summary>Bit (1 &lt;&lt; _UFFDIO_WAKE) in an ioctls mask.</summary>
    public const ulong WakeBit = 1UL << 0x02;

    /// <summary>Bit (1 &lt;&lt; _UFFDIO_COPY) in an ioctls mask.</summary>
    public const ulong CopyBit = 1UL << 0x03;

    /// <summary>Bit (1 &lt;&lt; _UFFDIO_ZEROPAGE) in an ioctls mask.</summary>
    public const ulong ZeroPageBit = 1UL << 0x04;

    /// <summary>WAKE | COPY | ZEROPAGE (0x1C): what a lazy-pages daemon needs on a registered range.</summary>
    public const ulong LazyPagesRangeIoctls = WakeBit | CopyBit | ZeroPageBit;
}
