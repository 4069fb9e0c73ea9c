using System.Runtime.InteropServices;
using LazyActors.Engine.Pages;
using Xunit;

namespace LazyActors.Engine.Tests.Pages;

public sealed class PageDataTests : IDisposable
{
    private const ulong Base = 0x4000_0000;
    private readonly List<nint> _buffers = [];
    private int _released;

    public void Dispose()
    {
        foreach (var buffer in _buffers)
        {
            Marshal.FreeHGlobal(buffer);
        }
    }

    private SharedPageRead Read(ulong dump, int pages)
    {
        var buffer = Marshal.AllocHGlobal(pages * 4096);
        _buffers.Add(buffer);
        for (var i = 0; i < pages; i++)
        {
            Marshal.WriteByte(buffer + (i * 4096), (byte)((dump >> 12) + (ulong)i));
        }

        return new SharedPageRead(new PageRead([new PageSegment(dump, pages, buffer)], () => _released++));
    }

    [Fact]
    public void PageData_clips_several_reads_to_the_requested_range()
    {
        var left = Read(Base, 4);
        var right = Read(Base + (4 * 4096), 4);
        using var data = new PageData(Base + (2 * 4096), 4, [left, right]);

        Assert.Equal(2, data.Segments.Count);
        Assert.True(data.TryLocate(Base + (3 * 4096), out var address, out var bytes));
        Assert.Equal(unchecked((byte)((Base >> 12) + 3)), Marshal.ReadByte(address));
        Assert.Equal(4096UL, bytes);
        Assert.True(data.TryLocate(Base + (5 * 4096), out address, out bytes));
        Assert.Equal(unchecked((byte)((Base >> 12) + 5)), Marshal.ReadByte(address));
        Assert.Equal(4096UL, bytes);
        Assert.False(data.TryLocate(Base + (6 * 4096), out _, out _));
        Assert.False(data.TryLocate(Base + 4096, out _, out _));
    }

    [Fact]
    public void PageData_refuses_reads_that_leave_a_hole()
    {
        var lease = Read(Base, 2);
        Assert.Throws<ArgumentException>(() => new PageData(Base, 4, [lease]));
    }

    [Fact]
    public void The_shared_read_is_released_once_by_its_last_holder()
    {
        var shared = Read(Base, 4);
        shared.AddReference();
        var first = new PageData(Base, 2, [shared]);
        shared.AddReference();
        var second = new PageData(Base + (2 * 4096), 2, [shared]);
        shared.Release(); // the reader's own reference

        first.Dispose();
        first.Dispose();
        Assert.Equal(0, _released);
        Assert.True(first.IsReleased);
        second.Dispose();
        Assert.Equal(1, _released);
        Assert.Throws<InvalidOperationException>(shared.AddReference);
    }
}
