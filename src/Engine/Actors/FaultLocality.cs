using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Where one task has been faulting lately, for the two decisions that depend on it: how much to claim on a fault
/// (one page, doubling up to the read-ahead maximum while each fault lands just after the previous claim, so a task
/// reading sequentially gets few, growing copies), and where its next background chunk goes (next to the last fault
/// when it faulted since the previous chunk, so the neighbourhood it works in arrives first).
/// </summary>
internal sealed class FaultLocality
{
    private const ulong NoFault = ulong.MaxValue;
    private readonly ulong _readAheadMaxBytes;
    private ulong _lastFaultPage = NoFault;

    public FaultLocality(ulong readAheadMaxBytes)
    {
        _readAheadMaxBytes = Math.Max(readAheadMaxBytes, PageGeometry.PageSize);
    }

    /// <summary>Bytes claimed around the last fault (a retried fault claims this much again).</summary>
    public ulong ReadAheadBytes { get; private set; } = PageGeometry.PageSize;

    /// <summary>Faults since the last background chunk was finished.</summary>
    public int FaultsSinceChunk { get; private set; }

    /// <summary>Records a new fault on <paramref name="page"/> (page-aligned) and returns the bytes to claim from it.</summary>
    public ulong OnFault(ulong page)
    {
        FaultsSinceChunk++;
        var sequential = _lastFaultPage != NoFault && page > _lastFaultPage && page - _lastFaultPage <= ReadAheadBytes;
        ReadAheadBytes = sequential ? Math.Min(ReadAheadBytes * 2, _readAheadMaxBytes) : PageGeometry.PageSize;
        _lastFaultPage = page;
        return ReadAheadBytes;
    }

    /// <summary>Where the next background chunk should be claimed: near the last fault if there was one since the
    /// previous chunk, otherwise anywhere (false).</summary>
    public bool TryGetChunkHint(out ulong page)
    {
        page = _lastFaultPage;
        return FaultsSinceChunk > 0 && _lastFaultPage != NoFault;
    }

    /// <summary>A background chunk was finished: returns the faults since the previous one and starts counting anew.</summary>
    public int TakeFaultsSinceChunk()
    {
        var faults = FaultsSinceChunk;
        FaultsSinceChunk = 0;
        return faults;
    }
}
