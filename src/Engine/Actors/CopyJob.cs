using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Page data that arrived for a claimed dump range of one task and is being copied into it, with how far the copy got.
/// A fault job is copied whole at once; a background job (a chunk the pusher asked for) one slice at a time.
/// </summary>
internal sealed class CopyJob
{
    public CopyJob(ulong dumpStart, int pages, bool background, ulong budgetBytes, PageData data)
    {
        DumpStart = dumpStart;
        End = dumpStart + ((ulong)pages << PageGeometry.PageShift);
        Background = background;
        BudgetBytes = budgetBytes;
        Data = data;
        Cursor = dumpStart;
    }

    public ulong DumpStart { get; }

    /// <summary>End of the dump range (exclusive).</summary>
    public ulong End { get; }

    /// <summary>A background chunk (reported to the pusher when done) rather than a fault's claim.</summary>
    public bool Background { get; }

    /// <summary>The chunk size the pusher accounted for it (background jobs).</summary>
    public ulong BudgetBytes { get; }

    /// <summary>The data; the job owns it until it is disposed.</summary>
    public PageData Data { get; }

    /// <summary>Next dump address to copy; everything before it was copied, skipped or dropped.</summary>
    public ulong Cursor { get; set; }

    /// <summary>Pages copied so far (reported with the chunk).</summary>
    public long PagesCopied { get; set; }

    /// <summary>Consecutive EAGAIN retries without progress.</summary>
    public int Retries { get; set; }

    public bool IsDone => Cursor >= End;

    /// <summary>For a fault's job: when the fault was read (<see cref="UffdActor.Events.ReadTimestamp"/>); 0 otherwise.</summary>
    public long FaultTimestamp { get; init; }
}
