using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Pages;

/// <summary>
/// Page data handed to one requester: exactly the pages it asked for (<see cref="DumpAddress"/>, <see cref="Pages"/>),
/// as segments that may come from several shared reads. The requester disposes it once copied (or dropped); that
/// releases its references on the shared reads. Local-only (holds native pointers).
/// </summary>
public sealed class PageData : IDisposable
{
    private readonly PageSegment[] _segments;
    private SharedPageRead[]? _leases;

    /// <summary>Builds the view of [<paramref name="dumpAddress"/>, +<paramref name="pages"/>) over <paramref name="leases"/>,
    /// taking ownership of one reference on each lease.</summary>
    /// <exception cref="ArgumentException">The leases do not cover the range.</exception>
    public PageData(ulong dumpAddress, int pages, IReadOnlyList<SharedPageRead> leases)
    {
        DumpAddress = dumpAddress;
        Pages = pages;
        _leases = [.. leases];
        var end = dumpAddress + ((ulong)pages << PageGeometry.PageShift);
        var clipped = new List<PageSegment>();
        foreach (var lease in leases)
        {
            foreach (var segment in lease.Read.Segments)
            {
                var s = Math.Max(segment.DumpAddress, dumpAddress);
                var e = Math.Min(segment.DumpEnd, end);
                if (e > s)
                {
                    clipped.Add(new PageSegment(s, (int)((e - s) >> PageGeometry.PageShift), segment.Address + (nint)(s - segment.DumpAddress)));
                }
            }
        }

        clipped.Sort(static (a, b) => a.DumpAddress.CompareTo(b.DumpAddress));
        var cursor = dumpAddress;
        var unique = new List<PageSegment>(clipped.Count);
        foreach (var segment in clipped)
        {
            if (segment.DumpEnd <= cursor)
            {
                continue; // covered twice (overlapping reads): keep the first
            }

            var s = Math.Max(segment.DumpAddress, cursor);
            if (s != cursor)
            {
                break;
            }

            unique.Add(new PageSegment(s, (int)((segment.DumpEnd - s) >> PageGeometry.PageShift), segment.Address + (nint)(s - segment.DumpAddress)));
            cursor = segment.DumpEnd;
        }

        if (cursor < end)
        {
            throw new ArgumentException($"page data for 0x{dumpAddress:x}+{pages}p has no bytes from 0x{cursor:x}", nameof(leases));
        }

        _segments = [.. unique];
    }

    /// <summary>Dump-time address of the first page.</summary>
    public ulong DumpAddress { get; }

    /// <summary>Number of pages.</summary>
    public int Pages { get; }

    /// <summary>Dump-time address just past the data.</summary>
    public ulong DumpEnd => DumpAddress + ((ulong)Pages << PageGeometry.PageShift);

    /// <summary>The data, sorted, contiguous, covering the range exactly.</summary>
    public IReadOnlyList<PageSegment> Segments => _segments;

    /// <summary>True once disposed.</summary>
    public bool IsReleased => Volatile.Read(ref _leases) is null;

    /// <summary>
    /// The bytes of dump address <paramref name="dumpAddress"/> onwards, up to the end of the segment holding it:
    /// where they are and how many. False when the address is outside the data.
    /// </summary>
    public bool TryLocate(ulong dumpAddress, out nint address, out ulong bytes)
    {
        int lo = 0, hi = _segments.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >> 1;
            var segment = _segments[mid];
            if (dumpAddress < segment.DumpAddress)
            {
                hi = mid - 1;
            }
            else if (dumpAddress >= segment.DumpEnd)
            {
                lo = mid + 1;
            }
            else
            {
                address = segment.Address + (nint)(dumpAddress - segment.DumpAddress);
                bytes = segment.DumpEnd - dumpAddress;
                return true;
            }
        }

        address = 0;
        bytes = 0;
        return false;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        var leases = Interlocked.Exchange(ref _leases, null);
        if (leases is null)
        {
            return;
        }

        foreach (var lease in leases)
        {
            lease.Release();
        }
    }
}
