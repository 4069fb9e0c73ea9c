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
    public void A_task_counts_as_reading_at_the_push_front_only_after_four_faults_in_order_within_the_front_window()
    {
        var locality = new FaultLocality(4 * Page, frontWindowBytes: 64 * Page);
        var following = new List<bool>();
        var page = Base;
        for (var i = 0; i < 6; i++)
        {
            locality.OnFault(page); // the first fault follows nothing; each later one is one window on
            following.Add(locality.FollowingFront);
            page += 64 * Page;
        }

        Assert.Equal([false, false, false, false, true, true], following);
        Assert.Equal(Page, locality.ReadAheadBytes); // a window apart is not sequential for the read-ahead
        // Every fault since the chunk belongs to the run the push follows: the chunks do not shrink for them.
        Assert.Equal((6, 6), (locality.FaultsSinceChunk, locality.FrontFaultsSinceChunk));
    }

    [Theory]
    [InlineData(65L)] // too far on
    [InlineData(-10L)] // backwards
    [InlineData(0L)] // the same page again
    public void A_fault_out_of_order_ends_the_run_until_four_in_order_again(long pagesOn)
    {
        var locality = new FaultLocality(4 * Page, frontWindowBytes: 64 * Page);
        var page = Base;
        for (var i = 0; i < 5; i++)
        {
            page += 8 * Page;
            locality.OnFault(page);
        }

        Assert.True(locality.FollowingFront);
        Assert.Equal(5, locality.TakeFaultsSinceChunk());

        page = (ulong)((long)page + (pagesOn * (long)Page));
        locality.OnFault(page);
        Assert.False(locality.FollowingFront);
        Assert.Equal((1, 0), (locality.FaultsSinceChunk, locality.FrontFaultsSinceChunk));

        var following = new List<bool>();
        for (var i = 0; i < 4; i++)
        {
            page += 16 * Page;
            locality.OnFault(page);
            following.Add(locality.FollowingFront);
        }

        Assert.Equal([false, false, false, true], following);
        // The run now followed started at the fault out of order: of the 5 faults since the chunk, all are the run's when
        // that fault started it.
        Assert.Equal((5, 5), (locality.FaultsSinceChunk, locality.FrontFaultsSinceChunk));
    }

    [Fact]
    public void A_random_fault_before_the_run_in_the_same_chunk_still_shrinks_the_next_chunk()
    {
        var locality = new FaultLocality(4 * Page, frontWindowBytes: 64 * Page);
        locality.OnFault(Base + (1000 * Page));
        var page = Base;
        for (var i = 0; i < 5; i++)
        {
            locality.OnFault(page);
            page += 32 * Page;
        }

        Assert.True(locality.FollowingFront);
        Assert.Equal((6, 5), (locality.FaultsSinceChunk, locality.FrontFaultsSinceChunk));
    }

    [Fact]
    public void A_task_following_the_front_is_held_up_until_several_chunks_in_a_row_pass_without_its_fault()
    {
        var locality = new FaultLocality(4 * Page, frontWindowBytes: 64 * Page);
        var page = Base;
        for (var i = 0; i < 5; i++)
        {
            locality.OnFault(page);
            page += 32 * Page;
        }

        Assert.True(locality.HeldUpAtFront);
        Assert.Equal(5, locality.TakeFaultsSinceChunk());
        // Chunks without a fault of the task: it stays held up for a few (a sequential reader at a two-copier front does
        // not fault in every chunk), then the push is taken to be ahead of it: it still counts as following (its last
        // faults were in order) but is no longer held up.
        for (var quiet = 1; quiet < FaultLocality.ChunksWithoutFaultToLetGo; quiet++)
        {
            Assert.True(locality.HeldUpAtFront, $"after {quiet - 1} quiet chunk(s)");
            Assert.Equal(0, locality.TakeFaultsSinceChunk());
        }

        Assert.True(locality.HeldUpAtFront);
        Assert.Equal(0, locality.TakeFaultsSinceChunk());
        Assert.True(locality.FollowingFront);
        Assert.False(locality.HeldUpAtFront);
        locality.OnFault(page);
        Assert.True(locality.HeldUpAtFront);
    }

    [Fact]
    public void A_task_faulting_out_of_order_is_never_held_up_at_the_front()
    {
        var locality = new FaultLocality(4 * Page, frontWindowBytes: 64 * Page);
        for (var i = 0; i < 8; i++)
        {
            locality.OnFault(Base + ((ulong)((i * 7919) % 1000) * 1024 * Page));
            Assert.False(locality.HeldUpAtFront);
        }
    }

    [Fact]
    public void The_run_goes_on_across_chunks()
    {
        var locality = new FaultLocality(4 * Page, frontWindowBytes: 64 * Page);
        var page = Base;
        for (var i = 0; i < 5; i++)
        {
            locality.OnFault(page);
            page += 32 * Page;
        }

        Assert.Equal(5, locality.TakeFaultsSinceChunk());
        Assert.True(locality.FollowingFront);
        Assert.Equal((0, 0), (locality.FaultsSinceChunk, locality.FrontFaultsSinceChunk));
        locality.OnFault(page);
        Assert.Equal((1, 1), (locality.FaultsSinceChunk, locality.FrontFaultsSinceChunk));
    }

    [Fact]
    public void Random_faults_over_a_large_task_almost_never_count_as_reading_at_the_front_and_a_sequential_reader_always_does()
    {
        // The bench's random tree: 128 MiB per task, a 4 MiB front window (chunk-max), first touches in random order.
        const ulong taskBytes = 128UL << 20;
        const ulong window = 4UL << 20;
        var random = new FaultLocality(256UL << 10, window);
        var rng = new Random(40);
        var followed = 0;
        const int faults = 200_000;
        for (var i = 0; i < faults; i++)
        {
            random.OnFault(Base + ((ulong)rng.NextInt64((long)(taskBytes / Page)) * Page));
            followed += random.FollowingFront ? 1 : 0;
        }

        // Four forward steps within 4 MiB in a row: (1/32)^4 per fault, about 0.2 of 200,000; one step alone would be
        // about 6,000.
        Assert.InRange(followed, 0, 3);

        // The sequential toucher at the push front: one fault per 1 MiB piece, after the first few read-ahead claims.
        var sequential = new FaultLocality(256UL << 10, window);
        var page = Base;
        for (var i = 0; i < 8; i++)
        {
            page += sequential.OnFault(page);
        }

        for (var i = 0; i < 100; i++)
        {
            page += 1UL << 20;
            sequential.OnFault(page);
            Assert.True(sequential.FollowingFront);
        }
    }

    [Fact]
    public void Without_a_front_window_no_fault_counts_as_one_at_the_push_front()
    {
        var locality = new FaultLocality(4 * Page);
        var next = Base;
        for (var i = 0; i < 8; i++)
        {
            next += locality.OnFault(next);
            Assert.False(locality.FollowingFront);
        }

        Assert.Equal((8, 0), (locality.FaultsSinceChunk, locality.FrontFaultsSinceChunk));
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
    public void The_last_fault_says_whether_it_was_scattered()
    {
        var locality = new FaultLocality(4 * Page, scatterDistanceBytes: 64 * Page);
        locality.OnFault(Base);
        Assert.False(locality.LastFaultScattered); // follows nothing
        locality.OnFault(Base + (1000 * Page));
        Assert.True(locality.LastFaultScattered);
        locality.OnFault(Base + (1010 * Page));
        Assert.False(locality.LastFaultScattered);
        var unscattered = new FaultLocality(4 * Page);
        unscattered.OnFault(Base);
        unscattered.OnFault(Base + (100_000 * Page));
        Assert.False(unscattered.LastFaultScattered); // no scatter distance
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
