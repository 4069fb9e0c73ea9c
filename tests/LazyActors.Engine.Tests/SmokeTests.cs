using LazyActors.Engine.Images.Proto;
using Xunit;

namespace LazyActors.Engine.Tests;

public sealed class SmokeTests
{
    [Fact]
    public void Generated_proto_types_exist()
    {
        var entry = new PagemapEntry { Vaddr = 0x1000, CompatNrPages = 0, Flags = 6, NrPages = 3 };
        Assert.Equal(0x1000UL, entry.Vaddr);
    }
}
