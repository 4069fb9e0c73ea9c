using LazyActors.Engine.Interop;
using Xunit;

namespace LazyActors.Engine.Tests.Interop;

public sealed unsafe class CmsgTests
{
    [Fact]
    public void SpaceAndLen_ForOneFd_MatchGlibc()
    {
        Assert.Equal(24, Cmsg.Space(sizeof(int)));
        Assert.Equal(20, Cmsg.Len(sizeof(int)));
        Assert.Equal(16, Cmsg.Len(0));
        Assert.Equal(24, Cmsg.Space(2 * sizeof(int)));
        Assert.Equal(32, Cmsg.Space(3 * sizeof(int)));
    }

    [Fact]
    public void Headers_WalkTwoMessagesThenStop()
    {
        var size = Cmsg.Space(4) + Cmsg.Space(12);
        var buffer = stackalloc byte[size];
        new Span<byte>(buffer, size).Clear();
        var message = new Msghdr { Control = buffer, ControlLength = (nuint)size };

        var first = Cmsg.FirstHeader(&message);
        Assert.True(first == (Cmsghdr*)buffer);
        first->Length = (nuint)Cmsg.Len(4);
        Assert.True(Cmsg.Data(first) == buffer + 16);

        var second = Cmsg.NextHeader(&message, first);
        Assert.True(second == (Cmsghdr*)(buffer + 24));
        second->Length = (nuint)Cmsg.Len(12);
        Assert.True(Cmsg.NextHeader(&message, second) == null);
    }

    [Fact]
    public void FirstHeader_BufferSmallerThanHeader_IsNull()
    {
        var buffer = stackalloc byte[8];
        var message = new Msghdr { Control = buffer, ControlLength = 8 };
        Assert.True(Cmsg.FirstHeader(&message) == null);
    }

    [Fact]
    public void SockaddrUn_LengthIsPathOffsetPlusStrlen()
    {
        var address = SockaddrUn.Create("lazy-pages.socket", out var length);
        Assert.Equal((uint)(2 + "lazy-pages.socket".Length), length);
        Assert.Equal(1, address.Family);
        Assert.Equal("lazy-pages.socket", address.GetPath(length));
        Assert.Throws<ArgumentException>(() => SockaddrUn.Create(new string('x', 109), out _));
        Assert.Throws<ArgumentException>(() => SockaddrUn.Create("a\0b", out _));
    }
}
