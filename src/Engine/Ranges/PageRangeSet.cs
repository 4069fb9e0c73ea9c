using System.Collections;

namespace LazyActors.Engine.Ranges;

/// <summary>
/// A set of disjoint, half-open, page-aligned ranges of current addresses, each carrying the dump-time address of its
/// first byte (see <see cref="AddressRange"/>). It replaces CRIU's sorted linked lists of <c>lazy_iov</c>: every
/// lookup, insertion, cut and take costs O(log n) expected time in the number n of ranges, plus O(k log n) for the k
/// ranges an operation removes or moves whole.
/// </summary>
/// <remarks>
/// <para>Neighbouring ranges are merged only when both their current and their dump addresses are contiguous, so the
/// dump mapping of every range stays linear.</para>
/// <para>Not thread-safe: one owner (an actor) mutates it. Steady-state operations allocate nothing; nodes are pooled.</para>
/// </remarks>
public sealed partial class PageRangeSet : IEnumerable<AddressRange>
{
    private readonly List<AddressRange> _shiftScratch = [];
    private int _version;

    /// <summary>Creates an empty set.</summary>
    public PageRangeSet()
        : this(InitialCapacity)
    {
    }

    /// <summary>Creates an empty set with room for <paramref name="capacity"/> ranges before it grows.</summary>
    public PageRangeSet(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _nodes = new Node[Math.Max(capacity, 1)];
        _randomState = 0x9E3779B9u;
    }

    /// <summary>Number of disjoint ranges.</summary>
    public int Count { get; private set; }

    /// <summary>Sum of the lengths of all ranges, in bytes.</summary>
    public ulong TotalBytes { get; private set; }

    /// <summary>Sum of the lengths of all ranges, in pages.</summary>
    public ulong TotalPages => TotalBytes >> PageGeometry.PageShift;

    /// <summary>True when the set holds no range.</summary>
    public bool IsEmpty => Count == 0;

    /// <summary>
    /// Adds <c>[start, end)</c> whose first byte was at <paramref name="dumpStart"/> at dump time. The new range is
    /// merged with a neighbour only when the two are contiguous in current <b>and</b> dump addresses.
    /// </summary>
    /// <exception cref="ArgumentException">Addresses are not page-aligned, the range is empty or it wraps around.</exception>
    /// <exception cref="InvalidOperationException">The range overlaps a range already in the set.</exception>
    public void Add(ulong start, ulong end, ulong dumpStart)
    {
        ValidateRange(start, end);
        if (!PageGeometry.IsAligned(dumpStart) || ulong.MaxValue - dumpStart < end - start)
        {
            throw new ArgumentException($"dump address 0x{dumpStart:x} is not page-aligned or overflows", nameof(dumpStart));
        }

        var before = LowerNode(end);
        if (before != Nil && _nodes[before].End > start)
        {
            throw new InvalidOperationException(
                $"cannot add [0x{start:x}, 0x{end:x}): it overlaps {RangeOf(before)}");
        }

        // before is now the last range ending at or below start; the next one (if any) starts at or after end.
        var after = before == Nil ? LowestNode() : HigherNode(_nodes[before].Start);
        var joinLeft = before != Nil && _nodes[before].End == start
            && _nodes[before].DumpStart + (_nodes[before].End - _nodes[before].Start) == dumpStart;
        var joinRight = after != Nil && _nodes[after].Start == end
            && _nodes[after].DumpStart == dumpStart + (end - start);

        if (joinLeft && joinRight)
        {
            var rightEnd = _nodes[after].End;
            DeleteNode(_nodes[after].Start);
            _nodes[before].End = rightEnd;
        }
        else if (joinLeft)
        {
            _nodes[before].End = end;
        }
        else if (joinRight)
        {
            // Moving the key down to start keeps the order: nothing lies between before and after.
            _nodes[after].Start = start;
            _nodes[after].DumpStart = dumpStart;
        }
        else
        {
            InsertNode(start, end, dumpStart);
        }

        TotalBytes += end - start;
        _version++;
    }

    /// <summary>Adds <paramref name="range"/>; see <see cref="Add(ulong, ulong, ulong)"/>.</summary>
    public void Add(AddressRange range) => Add(range.Start, range.End, range.DumpStart);

    /// <summary>True when a range of the set contains the current address <paramref name="address"/>.</summary>
    public bool Contains(ulong address) => NodeContaining(address) != Nil;

    /// <summary>Finds the whole range containing <paramref name="address"/>.</summary>
    public bool TryFind(ulong address, out AddressRange range)
    {
        var node = NodeContaining(address);
        if (node == Nil)
        {
            range = default;
            return false;
        }

        range = RangeOf(node);
        return true;
    }

    /// <summary>True when any byte of <c>[start, end)</c> is in the set.</summary>
    public bool Overlaps(ulong start, ulong end)
    {
        if (end <= start)
        {
            return false;
        }

        var node = LowerNode(end);
        return node != Nil && _nodes[node].End > start;
    }

    /// <summary>Lowest range of the set, without removing it.</summary>
    public bool TryPeekLowest(out AddressRange range)
    {
        var node = LowestNode();
        if (node == Nil)
        {
            range = default;
            return false;
        }

        range = RangeOf(node);
        return true;
    }

    /// <summary>
    /// Cuts every byte of <c>[start, end)</c> out of the set (ranges straddling a boundary are trimmed, one spanning
    /// the whole window is split in two) and returns the number of bytes removed.
    /// </summary>
    /// <exception cref="ArgumentException">The window is not page-aligned or is reversed.</exception>
    public long Remove(ulong start, ulong end) => (long)Cut(start, end, null);

    /// <summary>Like <see cref="Remove"/>, but returns the removed pieces in address order.</summary>
    public IReadOnlyList<AddressRange> Extract(ulong start, ulong end)
    {
        var pieces = new List<AddressRange>();
        Cut(start, end, pieces);
        return pieces;
    }

    /// <summary>Like <see cref="Extract"/>, but appends the pieces to <paramref name="destination"/> (no allocation
    /// beyond the list's growth) and returns the number of bytes removed.</summary>
    public ulong ExtractTo(ulong start, ulong end, List<AddressRange> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        return Cut(start, end, destination);
    }

    /// <summary>
    /// Applies an <c>mremap</c> of <c>[from, from + len)</c> to <c>[to, to + len)</c> (CRIU's REMAP event): the pieces
    /// inside the source window move by <c>to - from</c> and keep their dump addresses; pieces outside it stay. As
    /// after <c>mremap(MREMAP_FIXED)</c> the destination window's old contents are gone, so ranges already in the
    /// destination are cut out before the moved pieces land. The source window is empty afterwards (except where it
    /// overlaps the destination).
    /// </summary>
    /// <exception cref="ArgumentException">Addresses are not page-aligned or a window wraps around.</exception>
    public void Shift(ulong from, ulong to, ulong len)
    {
        if (len == 0 || from == to)
        {
            ValidateWindow(from, len);
            return;
        }

        ValidateWindow(from, len);
        ValidateWindow(to, len);
        _shiftScratch.Clear();
        Cut(from, from + len, _shiftScratch);
        Cut(to, to + len, null);
        foreach (var piece in _shiftScratch)
        {
            Add(piece.Start - from + to, piece.End - from + to, piece.DumpStart);
        }

        _shiftScratch.Clear();
        _version++;
    }

    /// <summary>
    /// Removes and returns the start of the lowest range, at most <paramref name="maxBytes"/> long (rounded down to
    /// whole pages). This is CRIU's background chunk (<c>xfer_pages</c>).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxBytes"/> is below one page.</exception>
    public bool TryTakeLowest(ulong maxBytes, out AddressRange taken)
    {
        var limit = ValidateMaxBytes(maxBytes);
        var node = LowestNode();
        if (node == Nil)
        {
            taken = default;
            return false;
        }

        taken = TakeFrom(node, _nodes[node].Start, limit);
        return true;
    }

    /// <summary>
    /// Removes and returns up to <paramref name="maxBytes"/> (rounded down to whole pages) starting at the page that
    /// contains <paramref name="address"/>, within the one range holding it (read-ahead after a fault). The range may
    /// be split in two. False when no range contains the address.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxBytes"/> is below one page.</exception>
    public bool TryTakeAround(ulong address, ulong maxBytes, out AddressRange taken)
    {
        var limit = ValidateMaxBytes(maxBytes);
        var page = PageGeometry.AlignDown(address);
        var node = NodeContaining(page);
        if (node == Nil)
        {
            taken = default;
            return false;
        }

        taken = TakeFrom(node, page, limit);
        return true;
    }

    /// <summary>
    /// Background chunk biased towards <paramref name="address"/> (for example the last fault, to push the pages a
    /// task is likely to touch next): takes like <see cref="TryTakeAround"/> when a range contains the address,
    /// otherwise from the start of the first range above it, otherwise from the lowest range (wrapping around).
    /// False only when the set is empty.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxBytes"/> is below one page.</exception>
    public bool TryTakeNear(ulong address, ulong maxBytes, out AddressRange taken)
    {
        var limit = ValidateMaxBytes(maxBytes);
        var page = PageGeometry.AlignDown(address);
        var node = NodeContaining(page);
        if (node != Nil)
        {
            taken = TakeFrom(node, page, limit);
            return true;
        }

        node = CeilingNode(page);
        if (node == Nil)
        {
            node = LowestNode();
        }

        if (node == Nil)
        {
            taken = default;
            return false;
        }

        taken = TakeFrom(node, _nodes[node].Start, limit);
        return true;
    }

    /// <summary>Removes every range.</summary>
    public void Clear()
    {
        _root = Nil;
        _freeHead = Nil;
        _highWater = 0;
        Count = 0;
        TotalBytes = 0;
        _version++;
    }

    /// <summary>An independent copy (CRIU copies the lists into a fork child). O(n).</summary>
    public PageRangeSet Clone()
    {
        var copy = new PageRangeSet(_nodes.Length);
        Array.Copy(_nodes, copy._nodes, _highWater);
        copy._root = _root;
        copy._freeHead = _freeHead;
        copy._highWater = _highWater;
        copy._randomState = _randomState;
        copy.Count = Count;
        copy.TotalBytes = TotalBytes;
        return copy;
    }

    /// <summary>The ranges in address order, copied into a new array.</summary>
    public AddressRange[] ToArray()
    {
        var result = new AddressRange[Count];
        var i = 0;
        foreach (var range in this)
        {
            result[i++] = range;
        }

        return result;
    }

    /// <summary>Enumerates the ranges in ascending address order without allocating.</summary>
    public Enumerator GetEnumerator() => new(this);

    IEnumerator<AddressRange> IEnumerable<AddressRange>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Takes <c>[from, min(node end, from + limit))</c> out of <paramref name="node"/>, which contains from.</summary>
    private AddressRange TakeFrom(int node, ulong from, ulong limit)
    {
        var start = _nodes[node].Start;
        var end = _nodes[node].End;
        var dumpStart = _nodes[node].DumpStart;
        var takeEnd = end - from <= limit ? end : from + limit;
        var taken = new AddressRange(from, takeEnd, dumpStart + (from - start));

        if (from == start && takeEnd == end)
        {
            DeleteNode(start);
        }
        else if (from == start)
        {
            _nodes[node].Start = takeEnd;
            _nodes[node].DumpStart = dumpStart + (takeEnd - start);
        }
        else
        {
            _nodes[node].End = from;
            if (takeEnd != end)
            {
                InsertNode(takeEnd, end, dumpStart + (takeEnd - start));
            }
        }

        TotalBytes -= takeEnd - from;
        _version++;
        return taken;
    }

    /// <summary>Cuts <c>[start, end)</c> out, optionally collecting the pieces; returns the bytes removed.</summary>
    private ulong Cut(ulong start, ulong end, List<AddressRange>? sink)
    {
        if (start == end)
        {
            ValidateWindow(start, 0);
            return 0;
        }

        ValidateRange(start, end);
        ulong removed = 0;

        // A range that starts below the window and reaches into it.
        var node = LowerNode(start);
        if (node != Nil && _nodes[node].End > start)
        {
            var nodeStart = _nodes[node].Start;
            var nodeEnd = _nodes[node].End;
            var nodeDump = _nodes[node].DumpStart;
            var cutEnd = Math.Min(nodeEnd, end);
            sink?.Add(new AddressRange(start, cutEnd, nodeDump + (start - nodeStart)));
            removed += cutEnd - start;
            _nodes[node].End = start;
            if (nodeEnd > end)
            {
                // The window lies strictly inside this range: keep its tail as a new range.
                InsertNode(end, nodeEnd, nodeDump + (end - nodeStart));
                TotalBytes -= removed;
                _version++;
                return removed;
            }
        }

        // Ranges starting inside the window: drop whole ones, trim the head of the last one if it sticks out.
        node = CeilingNode(start);
        while (node != Nil && _nodes[node].Start < end)
        {
            var nodeStart = _nodes[node].Start;
            var nodeEnd = _nodes[node].End;
            var nodeDump = _nodes[node].DumpStart;
            if (nodeEnd <= end)
            {
                sink?.Add(new AddressRange(nodeStart, nodeEnd, nodeDump));
                removed += nodeEnd - nodeStart;
                DeleteNode(nodeStart);
                node = CeilingNode(nodeEnd);
            }
            else
            {
                sink?.Add(new AddressRange(nodeStart, end, nodeDump));
                removed += end - nodeStart;
                _nodes[node].Start = end;
                _nodes[node].DumpStart = nodeDump + (end - nodeStart);
                break;
            }
        }

        TotalBytes -= removed;
        if (removed != 0)
        {
            _version++;
        }

        return removed;
    }

    private static void ValidateRange(ulong start, ulong end)
    {
        if (!PageGeometry.IsAligned(start) || !PageGeometry.IsAligned(end))
        {
            throw new ArgumentException($"range [0x{start:x}, 0x{end:x}) is not page-aligned");
        }

        if (end <= start)
        {
            throw new ArgumentException($"range [0x{start:x}, 0x{end:x}) is empty or reversed");
        }
    }

    private static void ValidateWindow(ulong start, ulong len)
    {
        if (!PageGeometry.IsAligned(start) || !PageGeometry.IsAligned(len))
        {
            throw new ArgumentException($"window 0x{start:x}+0x{len:x} is not page-aligned");
        }

        if (ulong.MaxValue - start < len)
        {
            throw new ArgumentException($"window 0x{start:x}+0x{len:x} wraps around the address space");
        }
    }

    private static ulong ValidateMaxBytes(ulong maxBytes)
    {
        if (maxBytes < PageGeometry.PageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, "must be at least one page (4096 bytes)");
        }

        return PageGeometry.AlignDown(maxBytes);
    }

    /// <summary>
    /// Allocation-free, in-order enumerator. Each step is an O(log n) successor search, so a full walk is
    /// O(n log n) without a stack. Modifying the set invalidates it.
    /// </summary>
    public struct Enumerator : IEnumerator<AddressRange>
    {
        private readonly PageRangeSet _set;
        private readonly int _version;
        private int _node;
        private bool _started;

        internal Enumerator(PageRangeSet set)
        {
            _set = set;
            _version = set._version;
            _node = Nil;
            _started = false;
            Current = default;
        }

        /// <inheritdoc />
        public AddressRange Current { get; private set; }

        readonly object IEnumerator.Current => Current;

        /// <inheritdoc />
        public bool MoveNext()
        {
            if (_version != _set._version)
            {
                throw new InvalidOperationException("the PageRangeSet was modified during enumeration");
            }

            _node = _started ? (_node == Nil ? Nil : _set.HigherNode(Current.Start)) : _set.LowestNode();
            _started = true;
            if (_node == Nil)
            {
                return false;
            }

            Current = _set.RangeOf(_node);
            return true;
        }

        /// <inheritdoc />
        public void Reset()
        {
            _node = Nil;
            _started = false;
            Current = default;
        }

        /// <inheritdoc />
        public readonly void Dispose()
        {
        }
    }
}
