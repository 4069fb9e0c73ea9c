namespace LazyActors.Engine.Protocol.Server;

/// <summary>What a lazy page server holds for a GET.</summary>
public enum PageLookupResult
{
    /// <summary>Served: <see cref="PageLookup.Pages"/> pages (clamped to the run's end) at <see cref="PageLookup.PagesFileOffset"/>.</summary>
    Found,

    /// <summary>No task with that pid (or a zombie, which has no memory).</summary>
    UnknownTask,

    /// <summary>A GET for 0 pages (CRIU: "no iovs found, zero pages").</summary>
    ZeroPages,

    /// <summary>The address is not page aligned.</summary>
    Unaligned,

    /// <summary>The address is in no pagemap entry of the task (CRIU: "no iovs found").</summary>
    NotDumped,

    /// <summary>The address is dumped but not lazy (restored eagerly; CRIU's server would hang on it).</summary>
    NotLazy,

    /// <summary>The address is PE_PARENT: its data is in a parent image set, which a lazy server does not serve.</summary>
    InParent,

    /// <summary>PE_LAZY without PE_PRESENT: this image set has no bytes for it (a lazy dump's images).</summary>
    NoData,
}

/// <summary>The answer to one GET: the outcome, and for <see cref="PageLookupResult.Found"/> where the pages are.</summary>
public readonly record struct PageLookup(PageLookupResult Result, int Pid, ulong Pages, long PagesFileOffset)
{
    /// <summary>Why the server holds nothing for the request (for the log), or "found".</summary>
    public string Reason => Result switch
    {
        PageLookupResult.Found => "found",
        PageLookupResult.UnknownTask => "no such task in the checkpoint (unknown pid, or a zombie without memory)",
        PageLookupResult.ZeroPages => "a request for 0 pages",
        PageLookupResult.Unaligned => "the address is not page aligned",
        PageLookupResult.NotDumped => "the address is in no pagemap entry of the task",
        PageLookupResult.NotLazy => "the address is not lazy (the restorer fills it eagerly)",
        PageLookupResult.InParent => "the address is PE_PARENT (its data is in the parent images, never served lazily)",
        PageLookupResult.NoData => "the pages are PE_LAZY without PE_PRESENT: this image set holds no data for them",
        _ => Result.ToString(),
    };
}
