using LazyActors.Engine.Ranges;
using Xunit;

namespace LazyActors.Engine.Tests.Ranges;

public sealed class TaskRangeBookTests
{
    private const ulong P = PageGeometry.PageSize;

    private static AddressRange R(ulong startPage, ulong endPage, ulong dumpPage) =>
        new(startPage * P, endPage * P, dumpPage * P);

    private static TaskRangeBook Book(params AddressRange[] lazy)
    {
        var book = new TaskRangeBook();
        foreach (var range in lazy)
        {
            book.AddLazy(range.Start, range.End, range.DumpStart);
        }

        return book;
    }

    [Fact]
    public void Lose_takes_pages_from_pending_and_in_flight_and_records_them_apart_from_drops()
    {
        var book = Book(R(10, 20, 10));
        Assert.Equal(FaultOutcome.Claimed, book.OnFault(12 * P, 2 * P).Outcome); // pages 12-13 in flight
        book.Remap(10 * P, 100 * P, 10 * P);                                     // moved: current 100-110, dump 10-20

        Assert.Equal(3UL, book.Lose(101 * P, 104 * P));
        Assert.Equal(3UL, book.LostPages);
        Assert.Equal(0UL, book.DroppedPages);
        Assert.Equal([R(101, 104, 11)], book.LostRanges);
        Assert.False(book.Pending.Contains(101 * P) || book.InFlight.Contains(102 * P) || book.InFlight.Contains(103 * P));

        Assert.Equal(1UL, book.Lose(104 * P, 105 * P));
        Assert.Equal([R(101, 105, 11)], book.LostRanges); // adjacent and linear: merged
        Assert.Equal(0UL, book.Lose(101 * P, 105 * P));    // already gone
        Assert.Equal(4UL, book.LostPages);
    }

    [Fact]
    public void VmaBoundaries_cut_a_copy_at_the_first_boundary_above_its_start()
    {
        var boundaries = new VmaBoundaries([10 * P, 16 * P, 16 * P, 20 * P]);
        Assert.Equal(3, boundaries.Count);
        Assert.Equal(6 * P, boundaries.Clamp(10 * P, 100 * P));
        Assert.Equal(2 * P, boundaries.Clamp(14 * P, 100 * P));
        Assert.Equal(P, boundaries.Clamp(14 * P, P));
        Assert.Equal(4 * P, boundaries.Clamp(16 * P, 100 * P));
        Assert.Equal(100 * P, boundaries.Clamp(20 * P, 100 * P));
        Assert.Equal(5 * P, boundaries.Clamp(5 * P, 100 * P));
        Assert.Equal(7 * P, VmaBoundaries.None.Clamp(5 * P, 7 * P));
    }

    [Fact]
    public void AddLazy_registers_pending_pages_and_the_total()
    {
        var book = Book(R(10, 20, 110), R(30, 32, 130));

        Assert.Equal(12UL, book.TotalPages);
        Assert.Equal(0UL, book.CopiedPages);
        Assert.Equal([R(10, 20, 110), R(30, 32, 130)], book.Pending.ToArray());
        Assert.True(book.InFlight.IsEmpty);
        Assert.False(book.IsComplete);
    }

    [Fact]
    public void OnFault_claims_one_page_then_deduplicates_then_answers_zero_page_outside_pending()
    {
        var book = Book(R(10, 20, 110));

        var first = book.OnFault(15 * P + 42);
        var again = book.OnFault(15 * P + 7);
        var outside = book.OnFault(50 * P + 1);

        Assert.Equal(new FaultDecision(FaultOutcome.Claimed, R(15, 16, 115)), first);
        Assert.True(first.IsClaimed);
        Assert.Equal(FaultOutcome.AlreadyInFlight, again.Outcome);
        Assert.Equal(R(15, 16, 115), again.Range);
        Assert.Equal(FaultOutcome.NotPending, outside.Outcome);
        Assert.Equal(50 * P, outside.Range.Start);
        Assert.Equal([R(10, 15, 110), R(16, 20, 116)], book.Pending.ToArray());
        Assert.Equal([R(15, 16, 115)], book.InFlight.ToArray());
    }

    [Fact]
    public void OnFault_with_read_ahead_claims_up_to_the_end_of_the_range()
    {
        var book = Book(R(10, 20, 110));

        var decision = book.OnFault(18 * P, readAheadBytes: 16 * P);

        Assert.Equal(R(18, 20, 118), decision.Range);
        Assert.Equal([R(10, 18, 110)], book.Pending.ToArray());
    }

    [Fact]
    public void TryClaimBackground_takes_the_lowest_pending_chunk()
    {
        var book = Book(R(30, 40, 130), R(10, 20, 110));

        Assert.True(book.TryClaimBackground(4 * P, out var chunk));

        Assert.Equal(R(10, 14, 110), chunk);
        Assert.Equal([R(10, 14, 110)], book.InFlight.ToArray());
        Assert.Equal([R(14, 20, 114), R(30, 40, 130)], book.Pending.ToArray());
        Assert.False(new TaskRangeBook().TryClaimBackground(4 * P, out _));
    }

    [Fact]
    public void TryClaimNear_takes_pending_pages_at_or_after_the_hint()
    {
        var book = Book(R(10, 20, 110), R(30, 40, 130));

        Assert.True(book.TryClaimNear(25 * P, 2 * P, out var chunk));

        Assert.Equal(R(30, 32, 130), chunk);
        Assert.Equal([R(30, 32, 130)], book.InFlight.ToArray());
    }

    [Fact]
    public void Complete_counts_the_copied_part_and_returns_the_rest_to_pending()
    {
        var book = Book(R(10, 20, 110));
        Assert.True(book.TryClaimBackground(8 * P, out var chunk));

        var copied = book.Complete(chunk, 5 * P + 100);

        Assert.Equal(5UL, copied);
        Assert.Equal(5UL, book.CopiedPages);
        Assert.True(book.InFlight.IsEmpty);
        Assert.Equal([R(15, 20, 115)], book.Pending.ToArray());
    }

    [Fact]
    public void Completing_everything_makes_the_book_complete()
    {
        var book = Book(R(10, 12, 110));
        var fault = book.OnFault(10 * P);
        Assert.True(book.TryClaimBackground(64 * P, out var rest));

        book.Complete(fault.Range, P);
        book.Complete(rest, rest.Length);

        Assert.True(book.IsComplete);
        Assert.Equal(2UL, book.CopiedPages);
        Assert.Equal(book.TotalPages, book.CopiedPages);
        Assert.Contains("copied 2/2", book.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Abandon_returns_the_claim_to_pending_and_it_merges_back()
    {
        var book = Book(R(10, 20, 110));
        var fault = book.OnFault(13 * P);

        book.Abandon(fault.Range);

        Assert.True(book.InFlight.IsEmpty);
        Assert.Equal([R(10, 20, 110)], book.Pending.ToArray());
        Assert.Equal(0UL, book.CopiedPages);
    }

    [Fact]
    public void Drop_cuts_pending_and_in_flight_and_later_completion_counts_nothing()
    {
        var book = Book(R(10, 20, 110));
        Assert.True(book.TryClaimBackground(4 * P, out var chunk));

        var dropped = book.Drop(12 * P, 16 * P);
        var copied = book.Complete(chunk, chunk.Length);

        Assert.Equal(4UL, dropped);
        Assert.Equal(4UL, book.DroppedPages);
        Assert.Equal(2UL, copied);
        Assert.Equal([R(16, 20, 116)], book.Pending.ToArray());
        Assert.True(book.InFlight.IsEmpty);
        Assert.False(book.TryLocateInFlight(113 * P, P, out _));
    }

    [Fact]
    public void Remap_moves_pending_and_in_flight_and_the_data_is_located_by_dump_address()
    {
        var book = Book(R(10, 20, 110));
        var fault = book.OnFault(12 * P, readAheadBytes: 2 * P);

        book.Remap(10 * P, 100 * P, 10 * P);

        Assert.Equal([R(100, 102, 110), R(104, 110, 114)], book.Pending.ToArray());
        Assert.Equal([R(102, 104, 112)], book.InFlight.ToArray());
        Assert.True(book.TryLocateInFlight(fault.Range.DumpStart, fault.Range.Length, out var current));
        Assert.Equal(R(102, 104, 112), current);

        book.Complete(current, current.Length);
        Assert.Equal(2UL, book.CopiedPages);
        Assert.True(book.InFlight.IsEmpty);
    }

    [Fact]
    public void TryLocateInFlight_clips_merged_claims_to_the_requested_one()
    {
        var book = Book(R(10, 20, 110));
        Assert.True(book.TryClaimBackground(2 * P, out _));
        Assert.True(book.TryClaimBackground(2 * P, out var second));

        // Both claims merged into one in-flight range; the second read's data must go to pages 12..13 only.
        Assert.Equal([R(10, 14, 110)], book.InFlight.ToArray());
        Assert.True(book.TryLocateInFlight(second.DumpStart, second.Length, out var current));
        Assert.Equal(R(12, 14, 112), current);
        Assert.False(book.TryLocateInFlight(500 * P, P, out _));
    }

    [Fact]
    public void ForkChild_pends_parent_pending_and_in_flight_and_inherits_counters()
    {
        var parent = Book(R(10, 20, 110));
        var fault = parent.OnFault(11 * P);
        Assert.True(parent.TryClaimBackground(P, out var done));
        parent.Complete(done, P);

        var child = parent.ForkChild();

        // Page 10 was copied in the parent (the child inherited the copy); page 11 was in flight: the child refetches it.
        Assert.Equal([R(11, 20, 111)], child.Pending.ToArray());
        Assert.True(child.InFlight.IsEmpty);
        Assert.Equal(parent.TotalPages, child.TotalPages);
        Assert.Equal(1UL, child.CopiedPages);

        // The two books are independent.
        child.Drop(11 * P, 20 * P);
        Assert.Equal([R(12, 20, 112)], parent.Pending.ToArray());
        Assert.Equal([fault.Range], parent.InFlight.ToArray());
    }

    [Fact]
    public void AddLazy_rejects_memory_already_tracked()
    {
        var book = Book(R(10, 20, 110));
        book.OnFault(15 * P);

        Assert.Throws<InvalidOperationException>(() => book.AddLazy(15 * P, 16 * P, 0));
        Assert.Throws<InvalidOperationException>(() => book.AddLazy(19 * P, 21 * P, 0));
        Assert.Equal(10UL, book.TotalPages);
    }

    [Fact]
    public void Random_daemon_sessions_keep_every_page_accounted_for()
    {
        for (var seed = 0; seed < 50; seed++)
        {
            var random = new Random(seed);
            var book = Book(R(0, 64, 1000), R(80, 100, 2000));
            var claims = new List<AddressRange>();
            ulong dropped = 0;

            for (var step = 0; step < 400 && !book.IsComplete; step++)
            {
                switch (random.Next(6))
                {
                    case 0:
                    case 1:
                        var decision = book.OnFault((ulong)random.Next(0, 110) * P, (ulong)random.Next(1, 4) * P);
                        if (decision.IsClaimed)
                        {
                            claims.Add(decision.Range);
                        }

                        break;
                    case 2:
                        if (book.TryClaimBackground((ulong)random.Next(1, 16) * P, out var chunk))
                        {
                            claims.Add(chunk);
                        }

                        break;
                    case 3:
                    case 4:
                        if (claims.Count > 0)
                        {
                            var index = random.Next(claims.Count);
                            var claim = claims[index];
                            claims.RemoveAt(index);
                            if (random.Next(4) == 0)
                            {
                                book.Abandon(claim);
                            }
                            else
                            {
                                book.Complete(claim, random.Next(2) == 0 ? claim.Length : claim.Length / 2);
                            }
                        }

                        break;
                    default:
                        var start = (ulong)random.Next(0, 100) * P;
                        dropped += book.Drop(start, start + ((ulong)random.Next(0, 3) * P));
                        break;
                }

                foreach (var range in book.InFlight)
                {
                    Assert.False(book.Pending.Overlaps(range.Start, range.End), $"seed {seed}: {range} pending and in flight");
                }

                Assert.Equal(
                    book.TotalPages,
                    book.CopiedPages + dropped + book.Pending.TotalPages + book.InFlight.TotalPages);
            }
        }
    }
}
