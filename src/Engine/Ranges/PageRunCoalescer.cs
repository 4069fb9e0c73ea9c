namespace LazyActors.Engine.Ranges;

/// <summary>
/// Turns a batch of page requests into few reads: adjacent or overlapping requests are merged into runs of at most a
/// given number of pages. Works in place on a span and allocates nothing, so a page cache can run it on every batch.
/// </summary>
public static class PageRunCoalescer
{
    private static readonly Comparison<PageRequest> ByAddress = static (a, b) => a.DumpAddress.CompareTo(b.DumpAddress);

    /// <summary>
    /// Merges the requests of <paramref name="requests"/>, which must be sorted by <see cref="PageRequest.DumpAddress"/>,
    /// into runs written to the front of the same span, and returns the number of runs.
    /// </summary>
    /// <remarks>
    /// <para>Every requested page is covered by exactly one run and runs are sorted and disjoint.</para>
    /// <para>A run grows while the next request touches or overlaps it and the result stays within
    /// <paramref name="maxRunPages"/>; a request wholly inside the current run is absorbed even when the run is full.
    /// When a request overlaps a run it cannot join, only its pages past the run start a new run, so nothing is read
    /// twice. A single request longer than <paramref name="maxRunPages"/> is kept whole (never split), so the number
    /// of runs never exceeds the number of requests.</para>
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxRunPages"/> is zero.</exception>
    /// <exception cref="ArgumentException">A request is unaligned, empty, overflows, or the batch is not sorted.</exception>
    public static int Coalesce(Span<PageRequest> requests, uint maxRunPages)
    {
        ArgumentOutOfRangeException.ThrowIfZero(maxRunPages);
        if (requests.IsEmpty)
        {
            return 0;
        }

        var maxRunBytes = (ulong)maxRunPages << PageGeometry.PageShift;
        Validate(requests[0], 0);
        var runStart = requests[0].DumpAddress;
        var runEnd = requests[0].EndAddress;
        var written = 0;

        for (var i = 1; i < requests.Length; i++)
        {
            var request = requests[i];
            Validate(request, i);
            if (request.DumpAddress < requests[i - 1].DumpAddress)
            {
                throw new ArgumentException(
                    $"page requests are not sorted: #{i} ({request}) comes after {requests[i - 1]}", nameof(requests));
            }

            var requestEnd = request.EndAddress;
            if (requestEnd <= runEnd)
            {
                continue; // Already covered by the current run.
            }

            if (request.DumpAddress <= runEnd && requestEnd - runStart <= maxRunBytes)
            {
                runEnd = requestEnd;
                continue;
            }

            // Close the current run. The slot is free: written <= i - 1, and requests[i] is already in a local.
            requests[written++] = new PageRequest(runStart, (uint)((runEnd - runStart) >> PageGeometry.PageShift));
            runStart = Math.Max(request.DumpAddress, runEnd);
            runEnd = requestEnd;
        }

        requests[written++] = new PageRequest(runStart, (uint)((runEnd - runStart) >> PageGeometry.PageShift));
        return written;
    }

    /// <summary>Sorts <paramref name="requests"/> by dump address, then <see cref="Coalesce"/>s them.</summary>
    public static int SortAndCoalesce(Span<PageRequest> requests, uint maxRunPages)
    {
        requests.Sort(ByAddress);
        return Coalesce(requests, maxRunPages);
    }

    private static void Validate(PageRequest request, int index)
    {
        if (request.Pages == 0 || !PageGeometry.IsAligned(request.DumpAddress)
            || ulong.MaxValue - request.DumpAddress < request.Length)
        {
            throw new ArgumentException($"page request #{index} ({request}) is empty, unaligned or overflows", "requests");
        }
    }
}
