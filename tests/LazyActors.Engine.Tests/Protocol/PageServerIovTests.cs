using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LazyActors.Engine.Images;
using LazyActors.Engine.Protocol;
using Xunit;

namespace LazyActors.Engine.Tests.Protocol;

/// <summary>The page-server header against the layout and the bytes captured from CRIU 4.2 (spec §4.1, §4.4).</summary>
public sealed class PageServerIovTests
{
    [Fact]
    public void Layout_is_32_bytes_with_nr_pages_after_the_padding()
    {
        Assert.Equal(32, Unsafe.SizeOf<PageServerIov>());
        Assert.Equal(0, (int)Marshal.OffsetOf<PageServerIov>(nameof(PageServerIov.Command)));
        Assert.Equal(4, (int)Marshal.OffsetOf<PageServerIov>(nameof(PageServerIov.Padding)));
        Assert.Equal(8, (int)Marshal.OffsetOf<PageServerIov>(nameof(PageServerIov.NrPages)));
        Assert.Equal(16, (int)Marshal.OffsetOf<PageServerIov>(nameof(PageServerIov.Vaddr)));
        Assert.Equal(24, (int)Marshal.OffsetOf<PageServerIov>(nameof(PageServerIov.DstId)));
    }

    [Theory]
    [InlineData("07000000000000000100000000000000" + "00305f18097f0000aa4b000000000000", PageServerCommand.Get, 0u, 1ul)]
    [InlineData("06000400000000000100000000000000" + "00305f18097f0000aa4b000000000000", PageServerCommand.AddWithFlags, 4u, 1ul)]
    [InlineData("07000000000000006400000000000000" + "00405f18097f0000aa4b000000000000", PageServerCommand.Get, 0u, 100ul)]
    public void Captured_criu_headers_decode_and_reencode_byte_for_byte(string hex, PageServerCommand command, uint flags, ulong pages)
    {
        var wire = Convert.FromHexString(hex);

        var iov = PageServerIov.ReadFrom(wire);

        Assert.Equal(command, iov.Kind);
        Assert.Equal((PageFlags)flags, iov.Flags);
        Assert.Equal(pages, iov.NrPages);
        Assert.Equal(0x4baaUL, iov.DstId);
        var again = new byte[PageServerIov.Size];
        iov.WriteTo(again);
        Assert.Equal(wire, again);
    }

    [Fact]
    public void Get_reply_and_close_build_the_bytes_criu_sends()
    {
        var get = PageServerIov.Get(0x4baa, 0x7f09185f3000, 1);
        var bytes = new byte[32];
        get.WriteTo(bytes);
        Assert.Equal("07000000000000000100000000000000" + "00305f18097f0000aa4b000000000000", Convert.ToHexString(bytes).ToLowerInvariant());

        var request = get with { Padding = 0xdeadbeef };
        var reply = PageServerIov.PagesReply(request, 1);
        Assert.Equal(0x00040006u, reply.Command);
        Assert.Equal(0xdeadbeefu, reply.Padding); // a lazy server echoes the request's padding
        Assert.Equal(request.Vaddr, reply.Vaddr);
        Assert.Equal(request.DstId, reply.DstId);

        PageServerIov.Close().WriteTo(bytes);
        Assert.Equal("2310" + new string('0', 60), Convert.ToHexString(bytes).ToLowerInvariant());
    }

    [Fact]
    public void Short_buffers_are_refused_with_a_clear_message()
    {
        var error = Assert.Throws<ArgumentException>(() => PageServerIov.ReadFrom(new byte[31]));
        Assert.Contains("32 bytes", error.Message);
        Assert.Throws<ArgumentException>(() => PageServerIov.Get(1, 0, 1).WriteTo(new byte[8]));
    }
}
