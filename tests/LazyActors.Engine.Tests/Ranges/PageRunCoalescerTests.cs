using LazyActors.Engine.Ranges;
using Xunit;

namespace LazyActors.Engine.Tests.Ranges;

public sealed class PageRunCoalescerTests
{
    private const ulong P = PageGeometry.PageSize;

    private static PageRequest Q(ulong page, uint pages) => new(page * P, pages);

    private static PageRequest[] Run(uint maxRunPages, params PageRequest[] requests)
    {
        var buffer = requests.ToArray();
        var count = PageRunCoalescer.Coalesce(buffer, maxRunPages);
        return buffer[..count];
    }

    [Fact]
    public void Adjacent_single_pages_become_one_run()
    {
        Assert.Equal([Q(10, 4)], Run(64, Q(10, 1), Q(11, 1), Q(12, 1), Q(13, 1)));
    }

    [Fact]
    public void Gaps_start_new_runs()
    {
        Assert.Equal([Q(10, 2), Q(20, 1), Q(22, 1)], Run(64, Q(10, 1), Q(11, 1), Q(20, 1), Q(22, 1)));
    }

    [Fact]
    public void Overlapping_and_duplicate_requests_merge()
    {
        Assert.Equal([Q(10, 6)], Run(64, Q(10, 3), Q(10, 1), Q(12, 3), Q(13, 3), Q(15, 1)));
    }

    [Fact]
    public void Runs_are_capped_at_the_maximum()
    {
        var requests = Enumerable.Range(0, 10).Select(i => Q((ulong)i, 1)).ToArray();

        Assert.Equal([Q(0, 4), Q(4, 4), Q(8, 2)], Run(4, requests));
    }

    [Fact]
    public void An_overlapping_request_that_cannot_join_starts_after_the_run_so_nothing_is_read_twice()
    {
        Assert.Equal([Q(0, 4), Q(4, 2)], Run(4, Q(0, 4), Q(2, 4)));
    }

    [Fact]
    public void A_request_inside_a_full_run_is_absorbed()
    {
        Assert.Equal([Q(0, 4)], Run(4, Q(0, 4), Q(1, 2)));
    }

    [Fact]
    public void A_request_longer_than_the_maximum_is_kept_whole()
    {
        Assert.Equal([Q(0, 1), Q(1, 10), Q(20, 1)], Run(4, Q(0, 1), Q(1, 10), Q(20, 1)));
    }

    [Fact]
    public void Empty_and_single_batches()
    {
        Assert.Equal(0, PageRunCoalescer.Coalesce(Span<PageRequest>.Empty, 4));
        Assert.Equal([Q(7, 3)], Run(4, Q(7, 3)));
    }

    [Fact]
    public void Bad_input_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => Run(4, Q(5, 1), Q(4, 1)));
        Assert.Throws<ArgumentException>(() => Run(4, new PageRequest(1, 1)));
        Assert.Throws<ArgumentException>(() => Run(4, Q(1, 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Run(0, Q(1, 1)));
    }

    [Fact]
    public void SortAndCoalesce_sorts_first()
    {
        var buffer = new[] { Q(12, 1), Q(10, 1), Q(11, 1), Q(3, 1) };

        var count = PageRunCoalescer.SortAndCoalesce(buffer, 64);

        Assert.Equal([Q(3, 1), Q(10, 3)], buffer[..count]);
    }

    [Fact]
    public void Random_batches_cover_exactly_the_requested_pages_with_bounded_disjoint_runs()
    {
        for (var seed = 0; seed < 200; seed++)
        {
            var random = new Random(seed);
            var maxRun = (uint)random.Next(1, 16);
            var requests = Enumerable.Range(0, random.Next(1, 60))
                .Select(_ => Q((ulong)random.Next(0, 200), (uint)random.Next(1, 6)))
                .OrderBy(q => q.DumpAddress)
                .ToArray();
            var wanted = requests.SelectMany(q => Enumerable.Range(0, (int)q.Pages).Select(i => q.DumpAddress + ((ulong)i * P)))
                .ToHashSet();

            var runs = Run(maxRun, requests);

            Assert.True(runs.Length <= requests.Length);
            var covered = new HashSet<ulong>();
            for (var i = 0; i < runs.Length; i++)
            {
                if (i > 0)
                {
                    Assert.True(runs[i].DumpAddress >= runs[i - 1].EndAddress, $"seed {seed}: runs overlap");
                }

                var longestRequest = requests.Max(q => q.Pages);
                Assert.True(runs[i].Pages <= Math.Max(maxRun, longestRequest), $"seed {seed}: run too long");
                for (var a = runs[i].DumpAddress; a < runs[i].EndAddress; a += P)
                {
                    Assert.True(covered.Add(a));
                }
            }

            Assert.True(wanted.SetEquals(covered), $"seed {seed}: runs do not cover exactly the requested pages");
        }
    }
}
