using System.Collections.Concurrent;
using System.Diagnostics;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Uffd;
using Xunit;
using static LazyActors.Engine.Tests.Uffd.NativeTestSupport;

namespace LazyActors.Engine.Tests.Uffd;

/// <summary>Pipes stand in for uffds here: the reader only needs readable descriptors that yield 32-byte records.</summary>
public sealed class EpollReaderTests
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(5);

    [Fact]
    public void Messages_FromSeveralFds_ArriveWithTheirTokens()
    {
        var (readA, writeA) = Pipe();
        var (readB, writeB) = Pipe();
        using var a = readA;
        using var wa = writeA;
        using var b = readB;
        using var wb = writeB;
        var seen = new BlockingCollection<(object Token, UffdMsg Msg)>();
        using var reader = new EpollReader((token, batch) =>
        {
            foreach (var msg in batch)
            {
                seen.Add((token, msg));
            }
        }, (_, ex) => seen.Add((ex, default)));
        reader.Add(a, "A");
        reader.Add(b, "B");

        WriteAll(writeA, FakeMessage(UffdEvent.Pagefault, 0x1000));
        WriteAll(writeB, FakeMessage(UffdEvent.Pagefault, 0x2000));
        WriteAll(writeA, [.. FakeMessage(UffdEvent.Pagefault, 0x3000), .. FakeMessage(UffdEvent.Unmap, 0x4000)]);

        var received = new List<(object Token, UffdMsg Msg)>();
        while (received.Count < 4 && seen.TryTake(out var item, WaitLimit))
        {
            received.Add(item);
        }

        Assert.Equal(4, received.Count);
        Assert.Equal([0x1000UL, 0x3000UL, 0x4000UL], received.Where(r => Equals(r.Token, "A")).Select(r => r.Msg.PagefaultAddress));
        Assert.Equal(UffdEvent.Unmap, received.Last(r => Equals(r.Token, "A")).Msg.Event);
        Assert.Equal(0x2000UL, Assert.Single(received, r => Equals(r.Token, "B")).Msg.PagefaultAddress);
        Assert.Equal(2, reader.Count);
    }

    [Fact]
    public void Remove_StopsDelivery_AndIsIdempotent()
    {
        var (readA, writeA) = Pipe();
        var (readB, writeB) = Pipe();
        using var a = readA;
        using var wa = writeA;
        using var b = readB;
        using var wb = writeB;
        var seen = new BlockingCollection<object>();
        using var reader = new EpollReader((token, _) => seen.Add(token), (token, _) => seen.Add(token));
        reader.Add(a, "A");
        reader.Add(b, "B");

        Assert.True(reader.Remove(a));
        Assert.False(reader.Remove(a));
        WriteAll(writeA, FakeMessage(UffdEvent.Pagefault, 0x1000));
        WriteAll(writeB, FakeMessage(UffdEvent.Pagefault, 0x2000));

        Assert.True(seen.TryTake(out var first, WaitLimit));
        Assert.Equal("B", first);
        Assert.False(seen.TryTake(out _, TimeSpan.FromMilliseconds(300)));
        Assert.Equal(1, reader.Count);
        Assert.Throws<InvalidOperationException>(() => reader.Add(b, "again"));
    }

    [Fact]
    public void HangUp_IsReportedForThatToken_AndOthersKeepBeingServed()
    {
        var (readA, writeA) = Pipe();
        var (readB, writeB) = Pipe();
        using var a = readA;
        using var b = readB;
        using var wb = writeB;
        var errors = new BlockingCollection<(object Token, Exception Error)>();
        var messages = new BlockingCollection<object>();
        using var reader = new EpollReader((token, _) => messages.Add(token), (token, ex) => errors.Add((token, ex)));
        reader.Add(a, "A");
        reader.Add(b, "B");

        writeA.Dispose();

        Assert.True(errors.TryTake(out var error, WaitLimit));
        Assert.Equal("A", error.Token);
        var io = Assert.IsType<IOException>(error.Error);
        Assert.Contains("hang-up (EPOLLHUP)", io.Message, StringComparison.Ordinal);
        Assert.Contains("A", io.Message, StringComparison.Ordinal);
        Assert.Equal(1, reader.Count);

        WriteAll(writeB, FakeMessage(UffdEvent.Pagefault, 0x2000));
        Assert.True(messages.TryTake(out var token, WaitLimit));
        Assert.Equal("B", token);
    }

    [Fact]
    public void ReadError_IsReportedAsLinuxException_AndFdRemoved()
    {
        var (read, write) = Pipe();
        using var r = read;
        using var w = write;
        var errors = new BlockingCollection<(object Token, Exception Error)>();
        using var reader = new EpollReader((_, _) => { }, (token, ex) => errors.Add((token, ex)));
        reader.Add(r, "short");

        // 5 bytes is not a whole uffd_msg: the reader must report it, not deliver garbage.
        WriteAll(write, [1, 2, 3, 4, 5]);

        Assert.True(errors.TryTake(out var error, WaitLimit));
        Assert.Equal("short", error.Token);
        Assert.IsType<InvalidDataException>(error.Error);
        Assert.Equal(0, reader.Count);
    }

    [Fact]
    public void Gated_fd_is_read_one_shot_rearmed_and_its_read_errors_reported_from_whichever_thread_read()
    {
        var (read, write) = Pipe();
        using var r = read;
        using var w = write;
        var barrier = new UffdEventBarrier();
        var messages = new BlockingCollection<ulong>();
        var errors = new BlockingCollection<(object Token, Exception Error)>();
        using var reader = new EpollReader(
            (_, batch) =>
            {
                foreach (var msg in batch)
                {
                    messages.Add(msg.PagefaultAddress);
                }
            },
            (token, ex) => errors.Add((token, ex)));
        reader.Add(r, "gated", barrier);

        // Re-armed after every read: three separate writes, three deliveries.
        foreach (var address in new ulong[] { 0x1000, 0x2000, 0x3000 })
        {
            WriteAll(write, FakeMessage(UffdEvent.Pagefault, address));
            Assert.True(messages.TryTake(out var got, WaitLimit), $"0x{address:x} not delivered");
            Assert.Equal(address, got);
        }

        // A read left to a copier that fails is still reported for the token, and the fd removed.
        using (barrier.EnterCopy())
        {
            WriteAll(write, [1, 2, 3, 4, 5]);
            Assert.True(SpinWait.SpinUntil(() => barrier.IsReadPending, WaitLimit));
        }

        Assert.True(errors.TryTake(out var error, WaitLimit));
        Assert.Equal("gated", error.Token);
        Assert.IsType<InvalidDataException>(error.Error);
        Assert.Equal(0, reader.Count);
        Assert.False(barrier.IsReadPending);
    }

    [Fact]
    public void ThrowingCallback_IsReportedToOnError()
    {
        var (read, write) = Pipe();
        using var r = read;
        using var w = write;
        var errors = new BlockingCollection<Exception>();
        using var reader = new EpollReader((_, _) => throw new InvalidOperationException("boom"), (_, ex) => errors.Add(ex));
        reader.Add(r, "t");

        WriteAll(write, FakeMessage(UffdEvent.Pagefault, 0x1000));

        Assert.True(errors.TryTake(out var error, WaitLimit));
        Assert.Equal("boom", error.Message);
        Assert.True(reader.IsRunning);
    }

    [Fact]
    public void Dispose_JoinsThreadWithinTwoSeconds_AndReleasesHandles()
    {
        var (read, write) = Pipe();
        using var w = write;
        var reader = new EpollReader((_, _) => { }, (_, _) => { });
        reader.Add(read, "t");
        read.Dispose(); // the reader still holds a reference, so the fd stays open until Remove/Dispose
        Assert.False(read.IsClosed);
        Assert.True(reader.IsRunning);

        var watch = Stopwatch.StartNew();
        reader.Dispose();
        watch.Stop();

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"Dispose took {watch.Elapsed}.");
        Assert.False(reader.IsRunning);
        Assert.True(read.IsClosed);
        Assert.Throws<ObjectDisposedException>(() => reader.Add(w, "late"));
        reader.Dispose();
    }

    [Fact]
    public void Add_ClosedHandle_Throws()
    {
        var (read, write) = Pipe();
        using var w = write;
        read.Dispose();
        using var reader = new EpollReader((_, _) => { }, (_, _) => { });

        Assert.Throws<ObjectDisposedException>(() => reader.Add(read, "closed"));
        Assert.Equal(0, reader.Count);
    }
}
