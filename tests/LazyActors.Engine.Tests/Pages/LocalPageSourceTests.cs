using System.Runtime.InteropServices;
using LazyActors.Engine.Images;
using LazyActors.Engine.Pages;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Engine.Tests.Pages;

public sealed class LocalPageSourceTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();
    private readonly Checkpoint _checkpoint;
    private readonly PinnedBufferPool _pool = new(8 * 4096, 2);
    private readonly LocalPageSource _source;

    public LocalPageSourceTests()
    {
        SyntheticCheckpoint.Write(_dir.Path, new SyntheticCheckpointOptions(1, 4 << 20, 11) { MaxEntryPages = 16 });
        _checkpoint = Checkpoint.Open(_dir.Path);
        _source = new LocalPageSource(_checkpoint, _pool);
    }

    private TaskImages Task => _checkpoint.Tasks[0];


    public void Dispose()
    {
        _source.Dispose();
        _pool.Dispose();
        _checkpoint.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void ReadNow_serves_present_pages_zero_copy_one_segment_per_pagemap_entry()
    {
        var (first, second) = Task.Pagemap.Zip(Task.Pagemap.Skip(1)).First(p => p.First.IsPresent && p.Second.IsPresent && p.Second.Vaddr == p.First.End);
        var pages = (int)(first.NrPages + second.NrPages);

        Assert.True(_source.TryReadNow(Task.Pid, first.Vaddr, pages, out var read));
        using (read)
        {
            Assert.True(read.IsZeroCopy);
            Assert.Equal(2, read.Segments.Count);
            AssertSameBytes(first.Vaddr, pages, read.Segments);
        }
    }

    [Fact]
    public async Task ReadAsync_buffers_ranges_that_cannot_be_mapped_and_zero_fills_gaps()
    {
        var gap = Task.Pagemap.Zip(Task.Pagemap.Skip(1)).First(p => p.Second.Vaddr > p.First.End);
        var start = gap.First.End - 4096;
        var pages = (int)((gap.Second.Vaddr - start) / 4096) + 1;
        Assert.False(_source.TryReadNow(Task.Pid, start, pages, out _));

        using var read = await _source.ReadAsync(Task.Pid, start, pages, ReadPriority.Fault, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(read.IsZeroCopy);
        Assert.Equal(start, read.Segments[0].DumpAddress);
        Assert.Equal(pages, read.Segments.Sum(s => s.Pages));
        AssertSameBytes(start, pages, read.Segments);
    }

    [Fact]
    public async Task ReadAsync_gives_a_read_larger_than_a_pooled_buffer_its_own_memory()
    {
        var gap = Task.Pagemap.Zip(Task.Pagemap.Skip(1)).First(p => p.Second.Vaddr > p.First.End);
        var start = gap.First.End - 4096;
        using var first = await _source.ReadAsync(Task.Pid, start, 2, ReadPriority.Fault, CancellationToken.None);
        using var second = await _source.ReadAsync(Task.Pid, start, 2, ReadPriority.Fault, CancellationToken.None);
        using var large = await _source.ReadAsync(Task.Pid, start, 40, ReadPriority.Fault, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(40, Assert.Single(large.Segments).Pages);
        AssertSameBytes(start, 40, large.Segments);
    }

    [Fact]
    public async Task ReadAsync_waits_for_a_pooled_buffer_and_returns_it_on_dispose()
    {
        var gap = Task.Pagemap.Zip(Task.Pagemap.Skip(1)).First(p => p.Second.Vaddr > p.First.End);
        var start = gap.First.End - 4096;
        var held = await _source.ReadAsync(Task.Pid, start, 8, ReadPriority.Fault, CancellationToken.None);
        var alsoHeld = await _source.ReadAsync(Task.Pid, start, 4, ReadPriority.Fault, CancellationToken.None);
        var waiting = _source.ReadAsync(Task.Pid, start, 2, ReadPriority.Fault, CancellationToken.None).AsTask();
        await System.Threading.Tasks.Task.Delay(100);
        Assert.False(waiting.IsCompleted);
        held.Dispose();
        alsoHeld.Dispose();
        using var read = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(2, _pool.Allocated);
    }

    [Fact]
    public void ReadNow_refuses_unknown_pids_and_empty_reads_without_throwing()
    {
        Assert.False(_source.TryReadNow(4242, Task.Pagemap[0].Vaddr, 1, out _));
        Assert.False(_source.TryReadNow(Task.Pid, Task.Pagemap[0].Vaddr, 0, out _));
    }

    private void AssertSameBytes(ulong dump, int pages, IReadOnlyList<PageSegment> segments)
    {
        var expected = new byte[pages * 4096];
        _checkpoint.Pages.Read(Task.Pid, dump, pages, expected);
        var actual = new byte[pages * 4096];
        var offset = 0;
        foreach (var segment in segments)
        {
            Marshal.Copy(segment.Address, actual, offset, (int)segment.Length);
            offset += (int)segment.Length;
        }

        Assert.Equal(expected, actual);
    }
}
