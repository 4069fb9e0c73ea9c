using LazyActors.Engine.Ranges;
using Xunit;

namespace LazyActors.Engine.Tests.Ranges;

public sealed class PageRangeSetTests
{
    private const ulong P = PageGeometry.PageSize;

    private static AddressRange R(ulong startPage, ulong endPage, ulong dumpPage) =>
        new(startPage * P, endPage * P, dumpPage * P);

    private static PageRangeSet Set(params AddressRange[] ranges)
    {
        var set = new PageRangeSet();
        foreach (var range in ranges)
        {
            set.Add(range);
        }

        return set;
    }

    [Fact]
    public void Add_keeps_ranges_sorted_and_counts_bytes()
    {
        var set = Set(R(30, 40, 130), R(10, 20, 110), R(50, 51, 999));

        Assert.Equal([R(10, 20, 110), R(30, 40, 130), R(50, 51, 999)], set.ToArray());
        Assert.Equal(3, set.Count);
        Assert.Equal(21 * P, set.TotalBytes);
        Assert.Equal(21UL, set.TotalPages);
    }

    [Fact]
    public void Add_merges_only_when_current_and_dump_addresses_are_both_contiguous()
    {
        var set = Set(R(10, 20, 110));
        set.Add(R(20, 25, 120));   // contiguous in both: merge right of the existing range
        set.Add(R(5, 10, 105));    // contiguous in both: merge left
        set.Add(R(25, 30, 500));   // contiguous current, not dump: separate
        set.Add(R(0, 5, 0));       // contiguous current, not dump: separate

        Assert.Equal([R(0, 5, 0), R(5, 25, 105), R(25, 30, 500)], set.ToArray());
    }

    [Fact]
    public void Add_filling_a_gap_merges_both_neighbours()
    {
        var set = Set(R(10, 20, 110), R(30, 40, 130));
        set.Add(R(20, 30, 120));

        Assert.Equal([R(10, 40, 110)], set.ToArray());
        Assert.Equal(1, set.Count);
        Assert.Equal(30 * P, set.TotalBytes);
    }

    [Fact]
    public void Add_rejects_overlap_unaligned_and_empty_ranges_without_changing_the_set()
    {
        var set = Set(R(10, 20, 110));

        Assert.Throws<InvalidOperationException>(() => set.Add(R(19, 21, 0)));
        Assert.Throws<InvalidOperationException>(() => set.Add(R(5, 11, 0)));
        Assert.Throws<InvalidOperationException>(() => set.Add(R(0, 100, 0)));
        Assert.Throws<ArgumentException>(() => set.Add(1, P, 0));
        Assert.Throws<ArgumentException>(() => set.Add(P, P, 0));
        Assert.Throws<ArgumentException>(() => set.Add(2 * P, P, 0));
        Assert.Throws<ArgumentException>(() => set.Add(0, P, 3));
        Assert.Throws<ArgumentException>(() => set.Add(0, 2 * P, PageGeometry.AlignDown(ulong.MaxValue)));
        Assert.Equal([R(10, 20, 110)], set.ToArray());
    }

    [Fact]
    public void Contains_and_TryFind_respect_half_open_bounds()
    {
        var set = Set(R(10, 20, 110));

        Assert.False(set.Contains(10 * P - 1));
        Assert.True(set.Contains(10 * P));
        Assert.True(set.Contains(20 * P - 1));
        Assert.False(set.Contains(20 * P));
        Assert.True(set.TryFind(15 * P + 7, out var found));
        Assert.Equal(R(10, 20, 110), found);
        Assert.Equal(115 * P + 7, found.DumpAddressOf(15 * P + 7));
        Assert.False(set.TryFind(25 * P, out _));
        Assert.False(new PageRangeSet().Contains(0));
    }

    [Fact]
    public void Remove_in_the_middle_splits_the_range_and_keeps_dump_mapping_linear()
    {
        var set = Set(R(10, 20, 110));

        var removed = set.Remove(13 * P, 15 * P);

        Assert.Equal((long)(2 * P), removed);
        Assert.Equal([R(10, 13, 110), R(15, 20, 115)], set.ToArray());
        Assert.Equal(8 * P, set.TotalBytes);
        Assert.Equal(2, set.Count);
    }

    [Fact]
    public void Remove_spanning_several_ranges_trims_the_edges_and_drops_the_inner_ones()
    {
        var set = Set(R(0, 10, 100), R(12, 14, 200), R(16, 18, 300), R(20, 30, 400), R(40, 50, 500));

        var removed = set.Remove(5 * P, 25 * P);

        Assert.Equal((long)((5 + 2 + 2 + 5) * P), removed);
        Assert.Equal([R(0, 5, 100), R(25, 30, 405), R(40, 50, 500)], set.ToArray());
        Assert.Equal(3, set.Count);
    }

    [Fact]
    public void Remove_of_missing_or_empty_windows_removes_nothing()
    {
        var set = Set(R(10, 20, 110));

        Assert.Equal(0, set.Remove(0, 10 * P));
        Assert.Equal(0, set.Remove(20 * P, 30 * P));
        Assert.Equal(0, set.Remove(15 * P, 15 * P));
        Assert.Throws<ArgumentException>(() => set.Remove(1, 2 * P));
        Assert.Throws<ArgumentException>(() => set.Remove(3 * P, 2 * P));
        Assert.Equal([R(10, 20, 110)], set.ToArray());
    }

    [Fact]
    public void Remove_exactly_a_whole_range_deletes_it()
    {
        var set = Set(R(10, 20, 110), R(30, 40, 130));

        Assert.Equal((long)(10 * P), set.Remove(10 * P, 20 * P));
        Assert.Equal([R(30, 40, 130)], set.ToArray());
    }

    [Fact]
    public void Extract_returns_the_cut_pieces_in_order_with_their_dump_addresses()
    {
        var set = Set(R(0, 10, 100), R(20, 30, 200));

        var pieces = set.Extract(5 * P, 25 * P);

        Assert.Equal([R(5, 10, 105), R(20, 25, 200)], pieces);
        Assert.Equal([R(0, 5, 100), R(25, 30, 205)], set.ToArray());
    }

    [Fact]
    public void Extract_inside_one_range_returns_the_middle()
    {
        var set = Set(R(0, 10, 100));

        Assert.Equal([R(3, 4, 103)], set.Extract(3 * P, 4 * P));
        Assert.Equal([R(0, 3, 100), R(4, 10, 104)], set.ToArray());
    }

    [Fact]
    public void Shift_onto_empty_space_moves_current_addresses_and_keeps_dump_addresses()
    {
        var set = Set(R(10, 20, 10), R(30, 35, 30));

        set.Shift(10 * P, 100 * P, 10 * P);

        Assert.Equal([R(30, 35, 30), R(100, 110, 10)], set.ToArray());
        Assert.Equal(15 * P, set.TotalBytes);
    }

    [Fact]
    public void Shift_of_a_window_partially_overlapping_ranges_moves_only_the_overlap()
    {
        var set = Set(R(0, 10, 0), R(12, 20, 12));

        // mremap [5, 15) -> [100, 110): pieces [5,10) and [12,15) move; [0,5) and [15,20) stay.
        set.Shift(5 * P, 100 * P, 10 * P);

        Assert.Equal([R(0, 5, 0), R(15, 20, 15), R(100, 105, 5), R(107, 110, 12)], set.ToArray());
        Assert.Equal(18 * P, set.TotalBytes);
    }

    [Fact]
    public void Shift_replaces_ranges_already_at_the_destination()
    {
        var set = Set(R(0, 4, 0), R(100, 110, 500));

        set.Shift(0, 102 * P, 4 * P);

        // The destination [102,106) lost its old pages; the moved ones keep dump pages 0..3.
        Assert.Equal([R(100, 102, 500), R(102, 106, 0), R(106, 110, 506)], set.ToArray());
        Assert.Equal(10 * P, set.TotalBytes);
    }

    [Fact]
    public void Shift_merges_with_a_destination_neighbour_that_continues_the_dump_image()
    {
        var set = Set(R(0, 4, 104), R(50, 54, 100));

        set.Shift(0, 54 * P, 4 * P);

        Assert.Equal([R(50, 58, 100)], set.ToArray());
    }

    [Fact]
    public void Shift_with_overlapping_source_and_destination_is_well_defined()
    {
        var set = Set(R(0, 10, 0));

        set.Shift(0, 5 * P, 10 * P);

        Assert.Equal([R(5, 15, 0)], set.ToArray());
    }

    [Fact]
    public void Shift_of_nothing_or_onto_itself_changes_nothing()
    {
        var set = Set(R(0, 10, 0));

        set.Shift(0, 0, 10 * P);
        set.Shift(0, 50 * P, 0);
        set.Shift(20 * P, 50 * P, 5 * P);

        Assert.Equal([R(0, 10, 0)], set.ToArray());
        Assert.Throws<ArgumentException>(() => set.Shift(1, 50 * P, P));
        Assert.Throws<ArgumentException>(() => set.Shift(0, ulong.MaxValue - PageGeometry.PageMask, 2 * P));
    }

    [Fact]
    public void TryTakeLowest_with_maxBytes_smaller_than_the_range_takes_its_head()
    {
        var set = Set(R(10, 20, 110), R(30, 40, 130));

        Assert.True(set.TryTakeLowest(3 * P + 100, out var taken));

        Assert.Equal(R(10, 13, 110), taken);
        Assert.Equal([R(13, 20, 113), R(30, 40, 130)], set.ToArray());
        Assert.Equal(17 * P, set.TotalBytes);
    }

    [Fact]
    public void TryTakeLowest_takes_a_whole_short_range_and_stops_at_its_end()
    {
        var set = Set(R(10, 12, 110), R(12, 20, 500));

        Assert.True(set.TryTakeLowest(64 * P, out var first));
        Assert.True(set.TryTakeLowest(64 * P, out var second));
        Assert.False(set.TryTakeLowest(64 * P, out _));

        Assert.Equal(R(10, 12, 110), first);
        Assert.Equal(R(12, 20, 500), second);
        Assert.True(set.IsEmpty);
        Assert.Equal(0UL, set.TotalBytes);
        Assert.Throws<ArgumentOutOfRangeException>(() => set.TryTakeLowest(P - 1, out _));
    }

    [Fact]
    public void TryTakeAround_takes_from_the_faulting_page_within_its_range()
    {
        var set = Set(R(10, 20, 110), R(20, 30, 999));

        Assert.True(set.TryTakeAround(14 * P + 123, 4 * P, out var middle));
        Assert.True(set.TryTakeAround(18 * P, 16 * P, out var tail));
        Assert.True(set.TryTakeAround(10 * P, P, out var head));
        Assert.False(set.TryTakeAround(15 * P, P, out _));

        Assert.Equal(R(14, 18, 114), middle);
        Assert.Equal(R(18, 20, 118), tail);
        Assert.Equal(R(10, 11, 110), head);
        Assert.Equal([R(11, 14, 111), R(20, 30, 999)], set.ToArray());
    }

    [Fact]
    public void TryTakeNear_prefers_the_containing_range_then_the_next_one_then_wraps()
    {
        var set = Set(R(10, 12, 110), R(20, 22, 120));

        Assert.True(set.TryTakeNear(21 * P, P, out var inside));
        Assert.True(set.TryTakeNear(15 * P, 8 * P, out var next));
        Assert.True(set.TryTakeNear(50 * P, 8 * P, out var wrapped));
        Assert.False(set.TryTakeNear(0, 8 * P, out _));

        Assert.Equal(R(21, 22, 121), inside);
        Assert.Equal(R(20, 21, 120), next);
        Assert.Equal(R(10, 12, 110), wrapped);
    }

    [Fact]
    public void Clone_is_independent_of_the_original()
    {
        var set = Set(R(0, 10, 0), R(20, 30, 20));
        var clone = set.Clone();

        set.Remove(0, 5 * P);
        clone.Add(R(40, 41, 40));

        Assert.Equal([R(5, 10, 5), R(20, 30, 20)], set.ToArray());
        Assert.Equal([R(0, 10, 0), R(20, 30, 20), R(40, 41, 40)], clone.ToArray());
        Assert.Equal(21 * P, clone.TotalBytes);
        Assert.Equal(3, clone.Count);
    }

    [Fact]
    public void Enumeration_fails_when_the_set_changes_underneath()
    {
        var set = Set(R(0, 1, 0), R(2, 3, 2));

        Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (var range in set)
            {
                set.Remove(range.Start, range.End);
            }
        });
    }

    [Fact]
    public void Clear_empties_the_set_and_it_stays_usable()
    {
        var set = Set(R(0, 1, 0), R(2, 3, 2));

        set.Clear();
        set.Add(R(5, 6, 5));

        Assert.Equal([R(5, 6, 5)], set.ToArray());
        Assert.Equal(P, set.TotalBytes);
    }

    [Fact]
    public void Overlaps_detects_any_shared_byte()
    {
        var set = Set(R(10, 20, 10));

        Assert.True(set.Overlaps(19 * P, 30 * P));
        Assert.True(set.Overlaps(0, 11 * P));
        Assert.False(set.Overlaps(20 * P, 30 * P));
        Assert.False(set.Overlaps(0, 10 * P));
        Assert.False(set.Overlaps(15 * P, 15 * P));
    }

    [Fact]
    public void Hundred_thousand_ranges_survive_hundred_thousand_random_removes()
    {
        const int n = 100_000;
        var set = new PageRangeSet();
        var random = new Random(12345);

        // Ranges of 2 pages with a 1-page hole between them, inserted in shuffled order.
        var order = Enumerable.Range(0, n).ToArray();
        random.Shuffle(order);
        foreach (var i in order)
        {
            var start = (ulong)i * 3 * P;
            set.Add(start, start + 2 * P, start + 0x1_0000_0000);
        }

        Assert.Equal(n, set.Count);
        Assert.Equal((ulong)n * 2 * P, set.TotalBytes);

        // Remove one random page per step and keep an exact tally of what was there.
        var present = new bool[n * 3];
        for (var i = 0; i < n; i++)
        {
            present[i * 3] = present[(i * 3) + 1] = true;
        }

        long expectedRemoved = 0;
        long removed = 0;
        for (var step = 0; step < n; step++)
        {
            var page = random.Next(n * 3);
            if (present[page])
            {
                present[page] = false;
                expectedRemoved += (long)P;
            }

            removed += set.Remove((ulong)page * P, ((ulong)page + 1) * P);
        }

        Assert.Equal(expectedRemoved, removed);
        Assert.Equal((ulong)n * 2 * P - (ulong)expectedRemoved, set.TotalBytes);
        var expectedCount = Enumerable.Range(0, n).Sum(i => present[i * 3] || present[(i * 3) + 1] ? 1 : 0);
        Assert.Equal(expectedCount, set.Count);
        Assert.True(set.TryFind(set.ToArray()[^1].Start, out var last));
        Assert.Equal(last.DumpStart, last.Start + 0x1_0000_0000);
    }
}
