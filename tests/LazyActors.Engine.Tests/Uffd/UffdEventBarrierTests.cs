using LazyActors.Engine.Interop;
using LazyActors.Engine.Tests.Support;
using LazyActors.Engine.Uffd;
using Xunit;

namespace LazyActors.Engine.Tests.Uffd;

public sealed class UffdEventBarrierTests
{
    [Fact]
    public void Barrier_counts_events_read_until_they_are_handled()
    {
        var barrier = new UffdEventBarrier();
        Assert.False(barrier.HasUnhandledEvents);
        barrier.EventsRead(2);
        Assert.True(barrier.HasUnhandledEvents);
        barrier.EventsHandled(1);
        Assert.True(barrier.HasUnhandledEvents);
        barrier.EventsHandled(1);
        Assert.False(barrier.HasUnhandledEvents);
        barrier.EventsRead(0);
        Assert.False(barrier.HasUnhandledEvents);
    }

    [SkippableFact]
    public unsafe void Adapter_refuses_copies_with_EAGAIN_while_an_event_is_unhandled()
    {
        Skip.If(UffdAvailability.Reason is not null, UffdAvailability.Reason);
        using var adapter = new UserFaultFdAdapter(UserFaultFd.Create().Handle);
        var page = stackalloc byte[4096];
        adapter.Barrier.EventsRead(1);
        Assert.Equal(new UffdOpResult(0, Errno.EAGAIN), adapter.Copy(0x1000_0000, (nint)page, 4096));
        Assert.Equal(new UffdOpResult(0, Errno.EAGAIN), adapter.ZeroPage(0x1000_0000, 4096));

        adapter.EventsHandled(1);
        // Now the kernel answers (the fd has no UFFDIO_API/registration, so it refuses with its own errno).
        Assert.NotEqual(Errno.EAGAIN, adapter.Copy(0x1000_0000, (nint)page, 4096).Error);
    }
}
