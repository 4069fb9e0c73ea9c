using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Where one task has been faulting lately, for the two decisions that depend on it: how much to claim on a fault
/// (one page, doubling up to the read-ahead maximum while each fault lands just after the previous claim, so a task
/// reading sequentially gets few, growing copies), and where its next background chunk goes (next to the last fault
/// when it faulted since the previous chunk, so the neighbourhood it works in arrives first).
/// </summary>
/// <remarks>
/// With a scatter distance, a fault farther than that from the previous one (and not at the push front) counts as
/// scattered (<see cref="ScatteredFaultsSinceChunk"/>): a task touching its memory at random says nothing about where
/// it goes next, so such faults neither move the next chunk nor make it small (the push then copies in large pieces
/// and in order, as if nobody faulted). A fault near the previous one still does both.
/// With a front window (push-front following), a fault after the previous one and at most that far on counts as a
/// fault at the push front (<see cref="FrontFaultsSinceChunk"/>): a task reading its memory in order faster than the
/// push copies it faults once per piece the push copies, each a little after the previous one. Such faults say where
/// the push should go on, not that the task touches at random, so the pusher keeps its chunks large for them.
/// </remarks>
internal sealed class FaultLocality
{
    private const ulong NoFault = ulong.MaxValue;
    private readonly ulong _readAheadMaxBytes;
    private readonly ulong _frontWindowBytes;
    private readonly ulong _readAheadMinBytes;
    private readonly ulong _scatterDistanceBytes;
    private ulong _lastFaultPage = NoFault;
    private bool _nearFaultSinceChunk;

    /// <param name="readAheadMaxBytes">Largest read-ahead on sequential faults.</param>
    /// <param name="frontWindowBytes">How far after the previous fault a fault still counts as one at the push front;
    /// 0: no fault does (push-front following off).</param>
    /// <param name="readAheadMinBytes">Read-ahead of a fault that does not follow the previous one (one page at least,
    /// at most <paramref name="readAheadMaxBytes"/>); sequential faults double it.</param>
    /// <param name="scatterDistanceBytes">A fault farther than this from the previous one is scattered; 0: no fault is.</param>
    public FaultLocality(ulong readAheadMaxBytes, ulong frontWindowBytes = 0, ulong readAheadMinBytes = PageGeometry.PageSize, ulong scatterDistanceBytes = 0)
    {
        _readAheadMaxBytes = Math.Max(readAheadMaxBytes, PageGeometry.PageSize);
        _frontWindowBytes = frontWindowBytes;
        _readAheadMinBytes = Math.Clamp(PageGeometry.AlignDown(readAheadMinBytes), PageGeometry.PageSize, _readAheadMaxBytes);
        _scatterDistanceBytes = scatterDistanceBytes;
        ReadAheadBytes = _readAheadMinBytes;
    }

    /// <summary>Bytes claimed around the last fault (a retried fault claims this much again).</summary>
    public ulong ReadAheadBytes { get; private set; }

    /// <summary>Of <see cref="FaultsSinceChunk"/>, those farther than the scatter distance from the previous fault
    /// (never one at the push front).</summary>
    public int ScatteredFaultsSinceChunk { get; private set; }

    /// <summary>Faults since the last background chunk was finished.</summary>
    public int FaultsSinceChunk { get; private set; }

    /// <summary>Of <see cref="FaultsSinceChunk"/>, those that followed the previous fault forward within the front window.</summary>
    public int FrontFaultsSinceChunk { get; private set; }

    /// <summary>Records a new fault on <paramref name="page"/> (page-aligned) and returns the bytes to claim from it.</summary>
    public ulong OnFault(ulong page)
    {
        FaultsSinceChunk++;
        var forward = _lastFaultPage != NoFault && page > _lastFaultPage;
        var sequential = forward && page - _lastFaultPage <= ReadAheadBytes;
        if (forward && page - _lastFaultPage <= Math.Max(ReadAheadBytes, _frontWindowBytes) && _frontWindowBytes > 0)
        {
            FrontFaultsSinceChunk++;
        }
        else if (_scatterDistanceBytes > 0 && _lastFaultPage != NoFault
            && (page > _lastFaultPage ? page - _lastFaultPage : _lastFaultPage - page) > _scatterDistanceBytes)
        {
            ScatteredFaultsSinceChunk++;
        }
        else
        {
            _nearFaultSinceChunk = true;
        }

        ReadAheadBytes = sequential ? Math.Min(ReadAheadBytes * 2, _readAheadMaxBytes) : _readAheadMinBytes;
        _lastFaultPage = page;
        return ReadAheadBytes;
    }

    /// <summary>Where the next background chunk should be claimed: near the last fault if there was one since the
    /// previous chunk that was not scattered, otherwise anywhere (false).</summary>
    public bool TryGetChunkHint(out ulong page)
    {
        page = _lastFaultPage;
        return FaultsSinceChunk > 0 && _lastFaultPage != NoFault && (_scatterDistanceBytes == 0 || _nearFaultSinceChunk || FrontFaultsSinceChunk > 0);
    }

    /// <summary>A background chunk was finished: returns the faults since the previous one and starts counting anew
    /// (<see cref="FrontFaultsSinceChunk"/> and <see cref="ScatteredFaultsSinceChunk"/> too: read them first).</summary>
    public int TakeFaultsSinceChunk()
    {
        var faults = FaultsSinceChunk;
        FaultsSinceChunk = 0;
        FrontFaultsSinceChunk = 0;
        ScatteredFaultsSinceChunk = 0;
        _nearFaultSinceChunk = false;
        return faults;
    }
}
