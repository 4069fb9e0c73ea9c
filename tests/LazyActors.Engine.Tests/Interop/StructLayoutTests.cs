using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LazyActors.Engine.Interop;
using Xunit;

namespace LazyActors.Engine.Tests.Interop;

public sealed class StructLayoutTests
{
    private static int Offset<T>(string field) => (int)Marshal.OffsetOf<T>(field);

    [Fact]
    public void UffdMsg_Layout_MatchesKernel()
    {
        Assert.Equal(32, Unsafe.SizeOf<UffdMsg>());
        Assert.Equal(32, Marshal.SizeOf<UffdMsg>());
        Assert.Equal(UffdMsg.Size, Unsafe.SizeOf<UffdMsg>());
        Assert.Equal(0, Offset<UffdMsg>(nameof(UffdMsg.Event)));
        Assert.Equal(8, Offset<UffdMsg>(nameof(UffdMsg.PagefaultFlags)));
        Assert.Equal(16, Offset<UffdMsg>(nameof(UffdMsg.PagefaultAddress)));
        Assert.Equal(24, Offset<UffdMsg>(nameof(UffdMsg.PagefaultPtid)));
        Assert.Equal(8, Offset<UffdMsg>(nameof(UffdMsg.ForkUfd)));
        Assert.Equal(8, Offset<UffdMsg>(nameof(UffdMsg.RemapFrom)));
        Assert.Equal(16, Offset<UffdMsg>(nameof(UffdMsg.RemapTo)));
        Assert.Equal(24, Offset<UffdMsg>(nameof(UffdMsg.RemapLength)));
        Assert.Equal(8, Offset<UffdMsg>(nameof(UffdMsg.RemoveStart)));
        Assert.Equal(16, Offset<UffdMsg>(nameof(UffdMsg.RemoveEnd)));
        Assert.Equal(1, sizeof(UffdEvent));
    }

    [Fact]
    public void Ucred_Layout_MatchesKernel()
    {
        Assert.Equal(12, Unsafe.SizeOf<Ucred>());
        Assert.Equal(Ucred.Size, Marshal.SizeOf<Ucred>());
        Assert.Equal(0, Offset<Ucred>(nameof(Ucred.Pid)));
        Assert.Equal(4, Offset<Ucred>(nameof(Ucred.Uid)));
        Assert.Equal(8, Offset<Ucred>(nameof(Ucred.Gid)));
    }

    [Fact]
    public void UffdMsg_DecodesKernelBytes()
    {
        Span<byte> raw = stackalloc byte[32];
        raw[0] = 0x12;
        BitConverter.TryWriteBytes(raw[8..], 1UL);
        BitConverter.TryWriteBytes(raw[16..], 0x7f00_0000_1234UL);
        var msg = MemoryMarshal.Read<UffdMsg>(raw);
        Assert.Equal(UffdEvent.Pagefault, msg.Event);
        Assert.Equal(1UL, msg.PagefaultFlags);
        Assert.Equal(0x7f00_0000_1234UL, msg.PagefaultAddress);
        Assert.Equal("Pagefault(addr=0x7f0000001234, flags=0x1)", msg.ToString());
    }

    [Fact]
    public void UffdioStructs_Layout_MatchesKernel()
    {
        Assert.Equal(24, Unsafe.SizeOf<UffdioApi>());
        Assert.Equal(0, Offset<UffdioApi>(nameof(UffdioApi.Api)));
        Assert.Equal(8, Offset<UffdioApi>(nameof(UffdioApi.Features)));
        Assert.Equal(16, Offset<UffdioApi>(nameof(UffdioApi.Ioctls)));

        Assert.Equal(16, Unsafe.SizeOf<UffdioRange>());
        Assert.Equal(0, Offset<UffdioRange>(nameof(UffdioRange.Start)));
        Assert.Equal(8, Offset<UffdioRange>(nameof(UffdioRange.Length)));

        Assert.Equal(32, Unsafe.SizeOf<UffdioRegister>());
        Assert.Equal(0, Offset<UffdioRegister>(nameof(UffdioRegister.Range)));
        Assert.Equal(16, Offset<UffdioRegister>(nameof(UffdioRegister.Mode)));
        Assert.Equal(24, Offset<UffdioRegister>(nameof(UffdioRegister.Ioctls)));

        Assert.Equal(40, Unsafe.SizeOf<UffdioCopy>());
        Assert.Equal(0, Offset<UffdioCopy>(nameof(UffdioCopy.Destination)));
        Assert.Equal(8, Offset<UffdioCopy>(nameof(UffdioCopy.Source)));
        Assert.Equal(16, Offset<UffdioCopy>(nameof(UffdioCopy.Length)));
        Assert.Equal(24, Offset<UffdioCopy>(nameof(UffdioCopy.Mode)));
        Assert.Equal(32, Offset<UffdioCopy>(nameof(UffdioCopy.Copy)));

        Assert.Equal(32, Unsafe.SizeOf<UffdioZeropage>());
        Assert.Equal(0, Offset<UffdioZeropage>(nameof(UffdioZeropage.Range)));
        Assert.Equal(16, Offset<UffdioZeropage>(nameof(UffdioZeropage.Mode)));
        Assert.Equal(24, Offset<UffdioZeropage>(nameof(UffdioZeropage.Zeropage)));
    }

    [Fact]
    public void EpollEvent_IsPacked12Bytes()
    {
        Assert.Equal(12, Unsafe.SizeOf<EpollEvent>());
        Assert.Equal(0, Offset<EpollEvent>(nameof(EpollEvent.Events)));
        Assert.Equal(4, Offset<EpollEvent>(nameof(EpollEvent.Data)));
    }

    [Fact]
    public void SocketStructs_Layout_MatchesX64()
    {
        Assert.Equal(16, Unsafe.SizeOf<Iovec>());
        Assert.Equal(0, Offset<Iovec>(nameof(Iovec.Base)));
        Assert.Equal(8, Offset<Iovec>(nameof(Iovec.Length)));

        Assert.Equal(56, Unsafe.SizeOf<Msghdr>());
        Assert.Equal(0, Offset<Msghdr>(nameof(Msghdr.Name)));
        Assert.Equal(8, Offset<Msghdr>(nameof(Msghdr.NameLength)));
        Assert.Equal(16, Offset<Msghdr>(nameof(Msghdr.Iov)));
        Assert.Equal(24, Offset<Msghdr>(nameof(Msghdr.IovLength)));
        Assert.Equal(32, Offset<Msghdr>(nameof(Msghdr.Control)));
        Assert.Equal(40, Offset<Msghdr>(nameof(Msghdr.ControlLength)));
        Assert.Equal(48, Offset<Msghdr>(nameof(Msghdr.Flags)));

        Assert.Equal(16, Unsafe.SizeOf<Cmsghdr>());
        Assert.Equal(0, Offset<Cmsghdr>(nameof(Cmsghdr.Length)));
        Assert.Equal(8, Offset<Cmsghdr>(nameof(Cmsghdr.Level)));
        Assert.Equal(12, Offset<Cmsghdr>(nameof(Cmsghdr.Type)));

        Assert.Equal(110, Unsafe.SizeOf<SockaddrUn>());
        Assert.Equal(0, Offset<SockaddrUn>(nameof(SockaddrUn.Family)));
        Assert.Equal(2, Offset<SockaddrUn>(nameof(SockaddrUn.Path)));

        Assert.Equal(8, Unsafe.SizeOf<PollFd>());
        Assert.Equal(0, Offset<PollFd>(nameof(PollFd.Fd)));
        Assert.Equal(4, Offset<PollFd>(nameof(PollFd.Events)));
        Assert.Equal(6, Offset<PollFd>(nameof(PollFd.REvents)));
    }

    [Fact]
    public void IoctlNumbers_FollowIocEncoding()
    {
        // _IOC(dir, type, nr, size) = dir << 30 | size << 16 | type << 8 | nr; READ=2, WRITE=1.
        static uint Ioc(uint dir, uint nr, int size) => (dir << 30) | ((uint)size << 16) | (0xAAu << 8) | nr;
        uint[] encoded =
        [
            Ioc(3, 0x3F, UffdioApi.Size), Ioc(3, 0x00, UffdioRegister.Size), Ioc(2, 0x01, UffdioRange.Size),
            Ioc(2, 0x02, UffdioRange.Size), Ioc(3, 0x03, UffdioCopy.Size), Ioc(3, 0x04, UffdioZeropage.Size), Ioc(0, 0x00, 0),
        ];
        uint[] declared =
        [
            UffdIoctls.UFFDIO_API, UffdIoctls.UFFDIO_REGISTER, UffdIoctls.UFFDIO_UNREGISTER, UffdIoctls.UFFDIO_WAKE,
            UffdIoctls.UFFDIO_COPY, UffdIoctls.UFFDIO_ZEROPAGE, UffdIoctls.USERFAULTFD_IOC_NEW,
        ];
        Assert.Equal(encoded, declared);
        Assert.Equal([0xC018AA3Fu, 0xC020AA00u, 0x8010AA01u, 0x8010AA02u, 0xC028AA03u, 0xC020AA04u, 0xAA00u], declared);
        ulong[] masks = [UffdFeatures.NonCooperative, UffdIoctls.LazyPagesRangeIoctls];
        Assert.Equal([0x4EUL, 0x1CUL], masks);
    }
}
