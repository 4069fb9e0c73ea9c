namespace LazyActors.Engine.Ranges;

/// <summary>What the daemon must do about one page fault (CRIU's <c>handle_page_fault</c>).</summary>
public enum FaultOutcome
{
    /// <summary>The page is already being read; the pending UFFDIO_COPY will wake the faulting thread.</summary>
    AlreadyInFlight,

    /// <summary>The page was never dumped, was already copied or was dropped: answer with UFFDIO_ZEROPAGE.</summary>
    NotPending,

    /// <summary>The page (and possibly read-ahead pages after it) moved from pending to in flight: read and copy it.</summary>
    Claimed,
}

/// <summary>
/// Result of <see cref="TaskRangeBook.OnFault"/>: the outcome, and for <see cref="FaultOutcome.Claimed"/> the claimed
/// range (current addresses plus dump address) that the caller must read, then <see cref="TaskRangeBook.Complete"/>
/// or <see cref="TaskRangeBook.Abandon"/>. For the other outcomes <see cref="Range"/> is the single faulting page.
/// </summary>
/// <param name="Outcome">What to do.</param>
/// <param name="Range">Claimed range, or the faulting page (dump address equal to its current address when unknown).</param>
public readonly record struct FaultDecision(FaultOutcome Outcome, AddressRange Range)
{
    /// <summary>True when the caller now owns <see cref="Range"/> and must fetch it.</summary>
    public bool IsClaimed => Outcome == FaultOutcome.Claimed;
}
