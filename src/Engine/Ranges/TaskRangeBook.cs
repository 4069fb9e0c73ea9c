namespace LazyActors.Engine.Ranges;

/// <summary>
/// The lazy-memory ledger of one restored task (or fork child), mirroring CRIU's <c>lazy_pages_info</c>: the
/// <see cref="Pending"/> ranges still to be fetched (<c>iovs</c>), the <see cref="InFlight"/> ranges with an
/// outstanding read (<c>reqs</c>), and the copied/total page counters. All addresses are current addresses; every
/// range also carries its dump-time address.
/// </summary>
/// <remarks>
/// <para>Thread-unsafe by design: exactly one owner (the task's UffdActor, which also serves the background pusher)
/// mutates it.</para>
/// <para>A page is in at most one of Pending and InFlight. Typical life of a range: <see cref="OnFault"/> or
/// <see cref="TryClaimBackground"/> moves it to InFlight; when the data arrives the owner locates the current
/// position with <see cref="TryLocateInFlight"/> (a REMAP may have moved it meanwhile), issues UFFDIO_COPY, then calls
/// <see cref="Complete"/>; on a retryable failure it calls <see cref="Abandon"/>.</para>
/// </remarks>
public sealed class TaskRangeBook
{
    private readonly List<AddressRange> _scratch = [];
    private readonly List<AddressRange> _lost = [];
    private List<(ulong DumpStart, ulong Pages)>? _copiedLog;

    /// <summary>Creates an empty book (no lazy memory, complete).</summary>
    public TaskRangeBook()
        : this(new PageRangeSet(), new PageRangeSet(), 0, 0)
    {
    }

    private TaskRangeBook(PageRangeSet pending, PageRangeSet inFlight, ulong totalPages, ulong copiedPages)
    {
        Pending = pending;
        InFlight = inFlight;
        TotalPages = totalPages;
        CopiedPages = copiedPages;
    }

    /// <summary>Ranges still to be fetched (CRIU <c>iovs</c>). Read it freely; change it only through the book's
    /// methods, which keep the counters and the pending/in-flight exclusivity right.</summary>
    public PageRangeSet Pending { get; }

    /// <summary>Ranges with an outstanding read (CRIU <c>reqs</c>). Read-only by convention, like <see cref="Pending"/>.</summary>
    public PageRangeSet InFlight { get; }

    /// <summary>Lazy pages registered with <see cref="AddLazy"/> (CRIU <c>total_pages</c>); a fork child inherits it.</summary>
    public ulong TotalPages { get; private set; }

    /// <summary>Pages reported copied through <see cref="Complete"/> (CRIU <c>copied_pages</c>).</summary>
    public ulong CopiedPages { get; private set; }

    /// <summary>Pages cut out by <see cref="Drop"/> while pending or in flight (REMOVE/UNMAP).</summary>
    public ulong DroppedPages { get; private set; }

    /// <summary>
    /// Pages cut out by <see cref="Lose"/>: pages with data that could not be placed and that no task event (UNMAP,
    /// REMOVE, REMAP, exit) explains. Any such page means the task's memory is wrong.
    /// </summary>
    public ulong LostPages { get; private set; }

    /// <summary>The lost pieces (current and dump addresses), in the order they were lost, adjacent ones merged.</summary>
    public IReadOnlyList<AddressRange> LostRanges => _lost;

    /// <summary>True when nothing is pending and nothing is in flight: the task needs no more pages.</summary>
    public bool IsComplete => Pending.IsEmpty && InFlight.IsEmpty;

    /// <summary>
    /// Registers lazy memory at startup (CRIU <c>collect_iovs</c>): <c>[start, end)</c> becomes pending with dump address
    /// <paramref name="dumpStart"/>, and <see cref="TotalPages"/> grows by its page count.
    /// </summary>
    /// <exception cref="InvalidOperationException">The range overlaps memory already pending or in flight.</exception>
    public void AddLazy(ulong start, ulong end, ulong dumpStart)
    {
        if (InFlight.Overlaps(start, end))
        {
            throw new InvalidOperationException($"lazy range [0x{start:x}, 0x{end:x}) overlaps a range in flight");
        }

        Pending.Add(start, end, dumpStart);
        TotalPages += PageGeometry.PagesIn(end - start);
    }

    /// <summary>
    /// Decides about a fault at <paramref name="address"/> (rounded down to its page): <see cref="FaultOutcome.AlreadyInFlight"/>
    /// when the page is being read, <see cref="FaultOutcome.NotPending"/> (answer with a zero page) when it is not
    /// pending, otherwise claims up to <paramref name="readAheadBytes"/> (at least the faulting page, never past its
    /// range) from pending into in flight and returns <see cref="FaultOutcome.Claimed"/>. O(log n), allocation-free.
    /// </summary>
    /// <param name="address">Faulting address.</param>
    /// <param name="readAheadBytes">Bytes to claim starting at the faulting page; CRIU claims exactly one page.</param>
    public FaultDecision OnFault(ulong address, ulong readAheadBytes = PageGeometry.PageSize)
    {
        var page = PageGeometry.AlignDown(address);
        if (InFlight.TryFind(page, out var inFlight))
        {
            return new FaultDecision(FaultOutcome.AlreadyInFlight, inFlight.Intersect(page, page + PageGeometry.PageSize));
        }

        if (!Pending.TryTakeAround(page, Math.Max(readAheadBytes, PageGeometry.PageSize), out var claimed))
        {
            return new FaultDecision(FaultOutcome.NotPending, new AddressRange(page, page + PageGeometry.PageSize, page));
        }

        InFlight.Add(claimed);
        return new FaultDecision(FaultOutcome.Claimed, claimed);
    }

    /// <summary>
    /// After a fault claimed from its page on (<see cref="OnFault"/>): claims every pending page of
    /// <c>[<paramref name="start"/>, <paramref name="end"/>)</c> too (the part of an aligned window before the faulting
    /// page), appending the claimed pieces to <paramref name="claimed"/> in address order. Returns the bytes claimed.
    /// </summary>
    public ulong ClaimWindowPart(ulong start, ulong end, List<AddressRange> claimed)
    {
        ArgumentNullException.ThrowIfNull(claimed);
        var first = claimed.Count;
        var bytes = Pending.ExtractTo(start, end, claimed);
        for (var i = first; i < claimed.Count; i++)
        {
            InFlight.Add(claimed[i]);
        }

        return bytes;
    }

    /// <summary>
    /// Claims a background chunk (CRIU <c>xfer_pages</c>): the first <paramref name="maxBytes"/> at most of the
    /// lowest pending range move to in flight. False when nothing is pending.
    /// </summary>
    public bool TryClaimBackground(ulong maxBytes, out AddressRange range)
    {
        if (!Pending.TryTakeLowest(maxBytes, out range))
        {
            return false;
        }

        InFlight.Add(range);
        return true;
    }

    /// <summary>
    /// Like <see cref="TryClaimBackground"/> but near <paramref name="hint"/> (see <see cref="PageRangeSet.TryTakeNear"/>),
    /// for a pusher that follows the task's recent faults.
    /// </summary>
    public bool TryClaimNear(ulong hint, ulong maxBytes, out AddressRange range)
    {
        if (!Pending.TryTakeNear(hint, maxBytes, out range))
        {
            return false;
        }

        InFlight.Add(range);
        return true;
    }

    /// <summary>
    /// Finds where the in-flight data of dump address <paramref name="dumpAddress"/> must be copied now: the in-flight
    /// piece holding that dump page, from that page on, at most <paramref name="maxBytes"/> long. False when it is no
    /// longer in flight (dropped by REMOVE/UNMAP): the data must then be discarded. O(k) in the number of in-flight
    /// ranges, which the owner keeps small.
    /// </summary>
    public bool TryLocateInFlight(ulong dumpAddress, ulong maxBytes, out AddressRange current)
    {
        var dumpPage = PageGeometry.AlignDown(dumpAddress);
        var limit = PageGeometry.AlignDown(maxBytes);
        if (limit != 0)
        {
            foreach (var piece in InFlight)
            {
                if (piece.ContainsDumpAddress(dumpPage))
                {
                    var start = piece.CurrentAddressOf(dumpPage);
                    var end = piece.End - start <= limit ? piece.End : start + limit;
                    current = new AddressRange(start, end, dumpPage);
                    return true;
                }
            }
        }

        current = default;
        return false;
    }

    /// <summary>
    /// Records a finished read (CRIU <c>uffd_io_complete</c>): of the in-flight range <paramref name="inFlight"/>
    /// (current addresses), the first <paramref name="bytesCopied"/> bytes (rounded down to pages) were copied into the
    /// task and leave the book; the rest goes back to pending. Parts no longer in flight are ignored; only pages that
    /// were actually in flight are counted in <see cref="CopiedPages"/>.
    /// </summary>
    /// <returns>Pages newly counted as copied.</returns>
    public ulong Complete(AddressRange inFlight, ulong bytesCopied)
    {
        if (inFlight.IsEmpty)
        {
            return 0;
        }

        var copiedLength = Math.Min(PageGeometry.AlignDown(bytesCopied), inFlight.Length);
        var copiedEnd = inFlight.Start + copiedLength;
        ulong copiedPages = 0;
        if (copiedLength != 0)
        {
            copiedPages = PageGeometry.PagesIn((ulong)InFlight.Remove(inFlight.Start, copiedEnd));
            CopiedPages += copiedPages;
            LogCopied(inFlight.DumpStart, PageGeometry.PagesIn(copiedLength));
        }

        if (copiedEnd < inFlight.End)
        {
            ReturnToPending(copiedEnd, inFlight.End);
        }

        return copiedPages;
    }

    /// <summary>
    /// From now on every range <see cref="Complete"/> reports copied is also appended to <paramref name="log"/> (dump
    /// start and pages, adjacent ones merged): the crash journal's progress, which the owner drains in batches.
    /// </summary>
    public void RecordCopiesInto(List<(ulong DumpStart, ulong Pages)> log) => _copiedLog = log;

    /// <summary>
    /// Replays progress a dead daemon journalled: the pending pages whose dump addresses lie in
    /// <c>[dumpStart, dumpStart + pages)</c> were copied (wherever REMAP events have moved them since) and leave the
    /// book. Pages no longer pending are ignored. Returns the pages newly counted as copied.
    /// </summary>
    public ulong MarkCopied(ulong dumpStart, ulong pages)
    {
        var dumpEnd = dumpStart + (pages * PageGeometry.PageSize);
        _scratch.Clear();
        foreach (var piece in Pending)
        {
            var from = Math.Max(piece.DumpStart, dumpStart);
            var to = Math.Min(piece.DumpEnd, dumpEnd);
            if (from < to)
            {
                var start = piece.CurrentAddressOf(from);
                _scratch.Add(new AddressRange(start, start + (to - from), from));
            }
        }

        ulong copied = 0;
        foreach (var piece in _scratch)
        {
            copied += PageGeometry.PagesIn((ulong)Pending.Remove(piece.Start, piece.End));
        }

        _scratch.Clear();
        CopiedPages += copied;
        return copied;
    }

    /// <summary>
    /// Gives a claimed range back (for example after EAGAIN or a failed read): whatever of <paramref name="inFlight"/>
    /// is still in flight returns to pending, so a later fault or chunk claims it again.
    /// </summary>
    public void Abandon(AddressRange inFlight)
    {
        if (!inFlight.IsEmpty)
        {
            ReturnToPending(inFlight.Start, inFlight.End);
        }
    }

    /// <summary>
    /// Applies a REMAP event (<c>mremap</c> of <c>[from, from + len)</c> to <c>[to, to + len)</c>) to pending and
    /// in-flight ranges alike: pieces move, dump addresses stay. See <see cref="PageRangeSet.Shift"/>.
    /// </summary>
    public void Remap(ulong from, ulong to, ulong len)
    {
        Pending.Shift(from, to, len);
        InFlight.Shift(from, to, len);
    }

    /// <summary>
    /// Applies a REMOVE (<c>madvise(MADV_DONTNEED)</c>) or UNMAP event: <c>[start, end)</c> leaves both sets, since the
    /// kernel now supplies those pages itself. Returns the pages dropped (also added to <see cref="DroppedPages"/>).
    /// </summary>
    public ulong Drop(ulong start, ulong end)
    {
        if (end <= start)
        {
            return 0;
        }

        var bytes = (ulong)Pending.Remove(start, end) + (ulong)InFlight.Remove(start, end);
        var pages = PageGeometry.PagesIn(bytes);
        DroppedPages += pages;
        return pages;
    }

    /// <summary>
    /// Records <c>[start, end)</c> as lost: it leaves both sets like <see cref="Drop"/>, but counts in
    /// <see cref="LostPages"/> and <see cref="LostRanges"/> instead, because no event explains why it can no longer be
    /// copied. Returns the pages lost.
    /// </summary>
    public ulong Lose(ulong start, ulong end)
    {
        if (end <= start)
        {
            return 0;
        }

        _scratch.Clear();
        Pending.ExtractTo(start, end, _scratch);
        InFlight.ExtractTo(start, end, _scratch);
        ulong bytes = 0;
        foreach (var piece in _scratch)
        {
            bytes += piece.Length;
            if (_lost.Count > 0 && _lost[^1].End == piece.Start && _lost[^1].DumpEnd == piece.DumpStart)
            {
                _lost[^1] = _lost[^1] with { End = piece.End };
            }
            else
            {
                _lost.Add(piece);
            }
        }

        _scratch.Clear();
        var pages = PageGeometry.PagesIn(bytes);
        LostPages += pages;
        return pages;
    }

    /// <summary>
    /// The book of a fork child (CRIU <c>handle_fork</c>): its pending set is this book's pending ∪ in-flight (data in
    /// flight will only reach the parent's memory, so the child fetches it again), nothing is in flight, and the
    /// counters are inherited.
    /// </summary>
    public TaskRangeBook ForkChild()
    {
        var pending = Pending.Clone();
        foreach (var range in InFlight)
        {
            pending.Add(range);
        }

        return new TaskRangeBook(pending, new PageRangeSet(), TotalPages, CopiedPages);
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"pending {Pending.TotalPages} pages in {Pending.Count} ranges, in flight {InFlight.TotalPages} pages in "
        + $"{InFlight.Count} ranges, copied {CopiedPages}/{TotalPages}";

    private void LogCopied(ulong dumpStart, ulong pages)
    {
        if (_copiedLog is not { } log || pages == 0)
        {
            return;
        }

        if (log.Count > 0 && log[^1].DumpStart + (log[^1].Pages * PageGeometry.PageSize) == dumpStart)
        {
            log[^1] = (log[^1].DumpStart, log[^1].Pages + pages);
        }
        else
        {
            log.Add((dumpStart, pages));
        }
    }

    private void ReturnToPending(ulong start, ulong end)
    {
        _scratch.Clear();
        InFlight.ExtractTo(start, end, _scratch);
        foreach (var piece in _scratch)
        {
            Pending.Add(piece);
        }

        _scratch.Clear();
    }
}
