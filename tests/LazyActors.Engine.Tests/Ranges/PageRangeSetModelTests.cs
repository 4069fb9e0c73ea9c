using LazyActors.Engine.Ranges;
using Xunit;

namespace LazyActors.Engine.Tests.Ranges;

/// <summary>
/// Seeded random operations applied both to <see cref="PageRangeSet"/> and to a page-by-page reference model
/// (current page -> dump page); after every operation the set must equal the model's maximal runs.
/// </summary>
public sealed class PageRangeSetModelTests
{
    private const ulong P = PageGeometry.PageSize;
    private const int UniversePages = 96;
    private const ulong Base = 0x7f00_0000_0000;

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (var seed = 0; seed < 200; seed += 20)
        {
            data.Add(seed);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Random_operations_match_the_page_model(int firstSeed)
    {
        for (var seed = firstSeed; seed < firstSeed + 20; seed++)
        {
            RunSeed(seed, operations: 500);
        }
    }

    private static void RunSeed(int seed, int operations)
    {
        var random = new Random(seed);
        var set = new PageRangeSet(capacity: 1);
        var model = new SortedDictionary<ulong, ulong>();
        PageRangeSet? clone = null;
        AddressRange[]? cloneSnapshot = null;

        for (var op = 0; op < operations; op++)
        {
            var context = $"seed {seed}, op {op}";
            switch (random.Next(10))
            {
                case 0:
                case 1:
                case 2:
                    DoAdd(random, set, model);
                    break;
                case 3:
                    DoRemove(random, set, model, context, extract: false);
                    break;
                case 4:
                    DoRemove(random, set, model, context, extract: true);
                    break;
                case 5:
                    DoShift(random, set, model);
                    break;
                case 6:
                    DoTake(random, set, model, context, random.Next(3));
                    break;
                case 7:
                    DoLookups(random, set, model, context);
                    break;
                case 8:
                    DoTake(random, set, model, context, 0);
                    break;
                default:
                    if (clone is not null)
                    {
                        Assert.Equal(cloneSnapshot!, clone.ToArray());
                    }

                    clone = set.Clone();
                    cloneSnapshot = set.ToArray();
                    break;
            }

            AssertMatches(set, model, context);
        }

        if (clone is not null)
        {
            Assert.Equal(cloneSnapshot!, clone.ToArray());
        }
    }

    private static ulong PageAddress(int page) => Base + ((ulong)page * P);

    private static void DoAdd(Random random, PageRangeSet set, SortedDictionary<ulong, ulong> model)
    {
        var first = random.Next(UniversePages);
        var pages = random.Next(1, 9);
        var last = Math.Min(UniversePages, first + pages);

        // Dump addresses: mostly identity (so neighbours can merge), sometimes displaced (so they must not).
        var displacement = random.Next(3) switch
        {
            0 => 0UL,
            1 => 0x10_0000UL,
            _ => (ulong)random.Next(0, 64) * P,
        };
        var start = PageAddress(first);
        var end = PageAddress(last);
        var dumpStart = start + displacement;

        var overlaps = false;
        for (var page = start; page < end; page += P)
        {
            overlaps |= model.ContainsKey(page);
        }

        if (overlaps)
        {
            Assert.Throws<InvalidOperationException>(() => set.Add(start, end, dumpStart));
            return;
        }

        set.Add(start, end, dumpStart);
        for (var page = start; page < end; page += P)
        {
            model[page] = dumpStart + (page - start);
        }
    }

    private static void DoRemove(
        Random random, PageRangeSet set, SortedDictionary<ulong, ulong> model, string context, bool extract)
    {
        var first = random.Next(UniversePages + 1);
        var last = Math.Min(UniversePages, first + random.Next(0, 20));
        var start = PageAddress(first);
        var end = PageAddress(last);

        var expectedPieces = new List<AddressRange>();
        ulong expectedBytes = 0;
        foreach (var (page, dump) in model.Where(kv => kv.Key >= start && kv.Key < end).ToList())
        {
            AppendPage(expectedPieces, page, dump);
            model.Remove(page);
            expectedBytes += P;
        }

        if (extract)
        {
            var pieces = set.Extract(start, end);
            Assert.True(expectedPieces.SequenceEqual(pieces), $"{context}: extract [{start:x},{end:x}) pieces differ");
        }
        else
        {
            Assert.Equal((long)expectedBytes, set.Remove(start, end));
        }
    }

    private static void DoShift(Random random, PageRangeSet set, SortedDictionary<ulong, ulong> model)
    {
        var len = (ulong)random.Next(0, 24) * P;
        var from = PageAddress(random.Next(UniversePages));
        var to = PageAddress(random.Next(UniversePages));

        var moved = model.Where(kv => kv.Key >= from && kv.Key < from + len).ToList();
        foreach (var (page, _) in moved)
        {
            model.Remove(page);
        }

        foreach (var page in model.Keys.Where(page => page >= to && page < to + len).ToList())
        {
            model.Remove(page);
        }

        foreach (var (page, dump) in moved)
        {
            model[page - from + to] = dump;
        }

        set.Shift(from, to, len);
    }

    /// <summary>kind 0 = lowest, 1 = around, 2 = near.</summary>
    private static void DoTake(Random random, PageRangeSet set, SortedDictionary<ulong, ulong> model, string context, int kind)
    {
        var maxBytes = ((ulong)random.Next(1, 10) * P) + (ulong)random.Next(0, (int)P);
        var address = PageAddress(random.Next(UniversePages)) + (ulong)random.Next(0, (int)P);
        var limitPages = maxBytes / P;
        var runs = Runs(model);
        var page = PageGeometry.AlignDown(address);

        AddressRange? source = null;
        var from = 0UL;
        switch (kind)
        {
            case 0:
                if (runs.Count > 0)
                {
                    source = runs[0];
                    from = runs[0].Start;
                }

                break;
            case 1:
            case 2:
                foreach (var run in runs)
                {
                    if (run.Contains(page))
                    {
                        source = run;
                        from = page;
                        break;
                    }
                }

                if (source is null && kind == 2 && runs.Count > 0)
                {
                    var next = runs.FirstOrDefault(run => run.Start >= page, runs[0]);
                    source = next;
                    from = next.Start;
                }

                break;
        }

        AddressRange taken;
        var ok = kind switch
        {
            0 => set.TryTakeLowest(maxBytes, out taken),
            1 => set.TryTakeAround(address, maxBytes, out taken),
            _ => set.TryTakeNear(address, maxBytes, out taken),
        };

        Assert.True(ok == source.HasValue, $"{context}: take kind {kind} returned {ok}");
        if (source is not { } range)
        {
            return;
        }

        var end = Math.Min(range.End, from + (limitPages * P));
        Assert.Equal(new AddressRange(from, end, range.DumpAddressOf(from)), taken);
        for (var p = from; p < end; p += P)
        {
            model.Remove(p);
        }
    }

    private static void DoLookups(Random random, PageRangeSet set, SortedDictionary<ulong, ulong> model, string context)
    {
        var runs = Runs(model);
        for (var i = 0; i < 8; i++)
        {
            var address = Base - (2 * P) + ((ulong)random.Next(0, UniversePages + 4) * P) + (ulong)random.Next(0, (int)P);
            var page = PageGeometry.AlignDown(address);
            Assert.Equal(model.ContainsKey(page), set.Contains(address));
            var found = set.TryFind(address, out var range);
            Assert.Equal(model.ContainsKey(page), found);
            if (found)
            {
                Assert.Contains(range, runs);
                Assert.Equal(model[page] + (address - page), range.DumpAddressOf(address));
            }

            var s = PageAddress(random.Next(UniversePages));
            var e = s + ((ulong)random.Next(0, 6) * P);
            Assert.True(
                model.Keys.Any(k => k >= s && k < e) == set.Overlaps(s, e), $"{context}: Overlaps({s:x},{e:x})");
        }
    }

    private static void AppendPage(List<AddressRange> runs, ulong page, ulong dump)
    {
        if (runs.Count > 0 && runs[^1].End == page && runs[^1].DumpEnd == dump)
        {
            runs[^1] = runs[^1] with { End = page + P };
        }
        else
        {
            runs.Add(new AddressRange(page, page + P, dump));
        }
    }

    private static List<AddressRange> Runs(SortedDictionary<ulong, ulong> model)
    {
        var runs = new List<AddressRange>();
        foreach (var (page, dump) in model)
        {
            AppendPage(runs, page, dump);
        }

        return runs;
    }

    private static void AssertMatches(PageRangeSet set, SortedDictionary<ulong, ulong> model, string context)
    {
        var expected = Runs(model);
        var actual = set.ToArray();
        Assert.True(
            expected.SequenceEqual(actual),
            $"{context}: expected [{string.Join(", ", expected)}] but set holds [{string.Join(", ", actual)}]");
        Assert.Equal(expected.Count, set.Count);
        Assert.Equal((ulong)model.Count * P, set.TotalBytes);
    }
}
