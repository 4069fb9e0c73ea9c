using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Where one task has been faulting lately, for the decisions that depend on it: how much to claim on a fault (one
/// page, doubling up to the read-ahead maximum while each fault lands just after the previous claim, so a task reading
/// sequentially gets few, growing copies), where its next background chunk goes (next to the last fault when it faulted
/// since the previous chunk, so the neighbourhood it works in arrives first) and, with a front window (push-front
/// following), whether the task is reading in order at the push front (<see cref="FollowingFront"/>).
/// </summary>
/// <remarks>
/// A task reading its memory in order faster than the push copies it faults once per piece the push copies, each fault
/// a little after the previous one. Such faults say where the push should go on, not that the task touches at random,
/// so the pusher keeps its chunks large for them and a fault in the next background piece waits for that piece. The
/// rule that tells them from random faults: the last <see cref="FaultsInOrderToFollow"/> faults each came after the
/// previous fault and at most the front window (chunk-max) on. One forward step is no evidence: the first fault of a
/// task follows nothing, and a random fault lands within 4 MiB after the previous one in a 128 MiB task once in 32
/// faults; four such steps in a row happen by chance once in about a million faults there (once in 65,000 in a 64 MiB
/// task, 256 in a 16 MiB one), while a sequential reader makes them from its fifth fault on (its first faults are a
/// few read-ahead claims apart), so following costs it a few small claims at the start. Any fault that breaks the
/// order (backwards, the same page, too far on) ends the run, so the next random fault gets its urgent window and
/// shrinks the chunks again (docs/benchmarks.md, front31 and follow40).
/// With a scatter distance, a fault farther than that from the previous one (and not one in order at the push front)
/// counts as scattered (<see cref="ScatteredFaultsSinceChunk"/>): a task touching its memory at random says nothing
/// about where it goes next, so such faults neither move the next chunk nor make it small (the push then copies in
/// large pieces and in order, as if nobody faulted). A fault near the previous one still does both (remote43).
/// </remarks>
internal sealed class FaultLocality
{
    /// <summary>How many faults in a row must each follow the previous one forward within the front window before the
    /// task counts as reading at the push front (see the remarks).</summary>
    internal const int FaultsInOrderToFollow = 4;

    private const ulong NoFault = ulong.MaxValue;
    private readonly ulong _readAheadMaxBytes;
    private readonly ulong _frontWindowBytes;
    private readonly ulong _readAheadMinBytes;
    private readonly ulong _scatterDistanceBytes;
    private ulong _lastFaultPage = NoFault;
    private bool _nearFaultSinceChunk;
    private int _chunksWithoutFault;

    /// <summary>How many faults in a row, up to the last one, followed their previous fault forward within the front
    /// window (across chunks); 0 after any other fault.</summary>
    private int _inOrder;

    /// <param name="readAheadMaxBytes">Largest read-ahead on sequential faults.</param>
    /// <param name="frontWindowBytes">How far after the previous fault a fault still counts as one in order at the push
    /// front; 0: no fault does (push-front following off).</param>
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
    /// (never one in order at the push front).</summary>
    public int ScatteredFaultsSinceChunk { get; private set; }

    /// <summary>Whether the last fault was scattered (farther than the scatter distance from the previous one and not in
    /// order at the push front).</summary>
    public bool LastFaultScattered { get; private set; }

    /// <summary>Faults since the last background chunk was finished.</summary>
    public int FaultsSinceChunk { get; private set; }

    /// <summary>
    /// True while the task reads in order at the push front: the last <see cref="FaultsInOrderToFollow"/> faults each
    /// followed the previous one forward within the front window. Never with no front window.
    /// </summary>
    public bool FollowingFront => _frontWindowBytes > 0 && _inOrder >= FaultsInOrderToFollow;

    /// <summary>
    /// Of <see cref="FaultsSinceChunk"/>, those of the run in order that the task is following now (the fault that
    /// started the run and each one after it), when <see cref="FollowingFront"/>; otherwise 0. All faults since the chunk
    /// are of the run only when none of them was random.
    /// </summary>
    public int FrontFaultsSinceChunk => FollowingFront ? Math.Min(FaultsSinceChunk, _inOrder + 1) : 0;

    /// <summary>How many background chunks in a row may finish without a fault of the task before a task that follows
    /// the push front no longer counts as held up by it. Not 1: a sequential reader at the front of a two-copier push
    /// does not fault in every chunk, and letting it go after one quiet chunk halves the push until it catches up again.
    /// 8 chunks are at most 32 MiB (chunk-max), ~10 ms of push.</summary>
    internal const int ChunksWithoutFaultToLetGo = 8;

    /// <summary>
    /// <see cref="FollowingFront"/>, and the task faulted since the previous background chunk finished or during one of
    /// the last <see cref="ChunksWithoutFaultToLetGo"/> chunks: it is held up by the push now. A task that followed the
    /// front once and then stopped faulting (the push stays ahead of it) is no longer held up, although its last faults
    /// were in order and <see cref="FollowingFront"/> stays true until it faults elsewhere.
    /// </summary>
    public bool HeldUpAtFront => FollowingFront && (FaultsSinceChunk > 0 || _chunksWithoutFault < ChunksWithoutFaultToLetGo);

    /// <summary>Records a new fault on <paramref name="page"/> (page-aligned) and returns the bytes to claim from it.</summary>
    public ulong OnFault(ulong page)
    {
        FaultsSinceChunk++;
        var forward = _lastFaultPage != NoFault && page > _lastFaultPage;
        var sequential = forward && page - _lastFaultPage <= ReadAheadBytes;
        var inOrder = forward && _frontWindowBytes > 0 && page - _lastFaultPage <= Math.Max(ReadAheadBytes, _frontWindowBytes);
        _inOrder = inOrder ? _inOrder + 1 : 0;
        LastFaultScattered = !inOrder && _scatterDistanceBytes > 0 && _lastFaultPage != NoFault
            && (page > _lastFaultPage ? page - _lastFaultPage : _lastFaultPage - page) > _scatterDistanceBytes;
        if (LastFaultScattered)
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
        return FaultsSinceChunk > 0 && _lastFaultPage != NoFault && (_scatterDistanceBytes == 0 || _nearFaultSinceChunk);
    }

    /// <summary>A background chunk was finished: returns the faults since the previous one and starts counting anew
    /// (read <see cref="FrontFaultsSinceChunk"/> and <see cref="ScatteredFaultsSinceChunk"/> first). The run in order goes
    /// on across chunks.</summary>
    public int TakeFaultsSinceChunk()
    {
        var faults = FaultsSinceChunk;
        _chunksWithoutFault = faults > 0 ? 0 : _chunksWithoutFault + 1;
        FaultsSinceChunk = 0;
        ScatteredFaultsSinceChunk = 0;
        _nearFaultSinceChunk = false;
        return faults;
    }
}
