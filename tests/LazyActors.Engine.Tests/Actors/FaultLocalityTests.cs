using LazyActors.Engine.Actors;
using Xunit;
using static LazyActors.Engine.Tests.Actors.ActorSpecSupport;

namespace LazyActors.Engine.Tests.Actors;

public sealed class FaultLocalityTests
{
    private const ulong Base = 0x7f00_0000_0000;

    [Fact]
    public void Sequential_faults_double_the_read_ahead_up_to_the_maximum()
    {
        var locality = new FaultLocality(4 * Page);
        var claimed = new List<ulong>();
        var next = Base;
        for (var i = 0; i < 5; i++)
        {
            var bytes = locality.OnFault(next);
            claimed.Add(bytes / Page);
            next += bytes;
        }

        Assert.Equal([1UL, 2, 4, 4, 4], claimed);
    }

    [Theory]
    [InlineData(0UL)] // the same page again
    [InlineData(3UL)] // beyond what was claimed
    public void A_fault_that_does_not_follow_the_last_claim_resets_the_read_ahead(ulong pagesAfter)
    {
        var locality = new FaultLocality(16 * Page);
        locality.OnFault(Base);
        Assert.Equal(2 * Page, locality.OnFault(Base + Page));
        Assert.Equal(Page, locality.OnFault(Base + Page + (pagesAfter * Page)));
        Assert.Equal(Page, locality.OnFault(Base - (8 * Page)));
        Assert.Equal(Page, locality.ReadAheadBytes);
    }

    [Fact]
    public void The_next_chunk_goes_near_the_last_fault_only_when_the_task_faulted_since_the_previous_chunk()
    {
        var locality = new FaultLocality(4 * Page);
        Assert.False(locality.TryGetChunkHint(out _));

        locality.OnFault(Base);
        locality.OnFault(Base + (40 * Page));
        Assert.True(locality.TryGetChunkHint(out var near));
        Assert.Equal(Base + (40 * Page), near);

        Assert.Equal(2, locality.TakeFaultsSinceChunk());
        Assert.Equal(0, locality.FaultsSinceChunk);
        Assert.False(locality.TryGetChunkHint(out _));
    }

    [Fact]
    public void Faults_forward_within_the_front_window_count_as_faults_at_the_push_front()
    {
        var locality = new FaultLocality(4 * Page, frontWindowBytes: 64 * Page);
        locality.OnFault(Base); // the first fault follows nothing
        locality.OnFault(Base + (64 * Page)); // one window on: at the front (read-ahead resets: not sequential)
        Assert.Equal(Page, locality.ReadAheadBytes);
        locality.OnFault(Base + (65 * Page)); // sequential: at the front, read-ahead grows
        Assert.Equal(2 * Page, locality.ReadAheadBytes);
        locality.OnFault(Base + (200 * Page)); // too far on
        locality.OnFault(Base + (100 * Page)); // backwards
        locality.OnFault(Base + (100 * Page)); // the same page again
        Assert.Equal((6, 2), (locality.FaultsSinceChunk, locality.FrontFaultsSinceChunk));

        Assert.Equal(6, locality.TakeFaultsSinceChunk());
        Assert.Equal((0, 0), (locality.FaultsSinceChunk, locality.FrontFaultsSinceChunk));
    }

    [Fact]
    public void Without_a_front_window_no_fault_counts_as_one_at_the_push_front()
    {
        var locality = new FaultLocality(4 * Page);
        var next = Base;
        for (var i = 0; i < 5; i++)
        {
            next += locality.OnFault(next);
        }

        Assert.Equal((5, 0), (locality.FaultsSinceChunk, locality.FrontFaultsSinceChunk));
    }

    [Fact]
    public void A_fault_that_follows_nothing_claims_the_minimum_read_ahead_and_sequential_ones_double_it()
    {
        var locality = new FaultLocality(16 * Page, readAheadMinBytes: 4 * Page);
        Assert.Equal(4 * Page, locality.OnFault(Base));
        Assert.Equal(8 * Page, locality.OnFault(Base + (4 * Page)));
        Assert.Equal(16 * Page, locality.OnFault(Base + (12 * Page)));
        Assert.Equal(4 * Page, locality.OnFault(Base + (1000 * Page))); // random again
        Assert.Equal(4 * Page, locality.ReadAheadBytes);
    }

    [Fact]
    public void The_minimum_read_ahead_is_kept_between_a_page_and_the_maximum()
    {
        Assert.Equal(4 * Page, new FaultLocality(4 * Page, readAheadMinBytes: 64 * Page).OnFault(Base));
        Assert.Equal(Page, new FaultLocality(4 * Page, readAheadMinBytes: 100).OnFault(Base));
    }

    [Fact]
    public void Faults_far_from_the_previous_one_are_scattered_and_do_not_move_the_next_chunk()
    {
        var locality = new FaultLocality(4 * Page, scatterDistanceBytes: 64 * Page);
        locality.OnFault(Base); // follows nothing: near
        locality.OnFault(Base + (1000 * Page)); // far forward
        locality.OnFault(Base + (10 * Page)); // far backwards
        Assert.Equal((3, 2), (locality.FaultsSinceChunk, locality.ScatteredFaultsSinceChunk));
        Assert.True(locality.TryGetChunkHint(out _)); // the first one was near

        Assert.Equal(3, locality.TakeFaultsSinceChunk());
        Assert.Equal(0, locality.ScatteredFaultsSinceChunk);
        locality.OnFault(Base + (2000 * Page));
        locality.OnFault(Base + (5000 * Page));
        Assert.Equal(2, locality.ScatteredFaultsSinceChunk);
        Assert.False(locality.TryGetChunkHint(out _)); // only scattered faults: the push goes on where it was

        locality.OnFault(Base + (5040 * Page)); // within the distance of the previous fault
        Assert.Equal(2, locality.ScatteredFaultsSinceChunk);
        Assert.True(locality.TryGetChunkHint(out var near));
        Assert.Equal(Base + (5040 * Page), near);
    }

    [Fact]
    public void Without_a_scatter_distance_no_fault_is_scattered()
    {
        var locality = new FaultLocality(4 * Page);
        locality.OnFault(Base);
        locality.OnFault(Base + (100_000 * Page));
        Assert.Equal((2, 0), (locality.FaultsSinceChunk, locality.ScatteredFaultsSinceChunk));
        Assert.True(locality.TryGetChunkHint(out _));
    }
}
